using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Broker.Api.Hosting;

/// <summary>
/// A setting the broker cannot start with, said in one line a person can act on: the setting as written in
/// configuration (Broker:Tokens:ClockSkew, and its environment variable), the value it has and what it must be.
/// Program prints these lines and exits 1 instead of a stack trace; an exception that is not about a setting is
/// not described here, and stays the bug report it is.
/// </summary>
public static partial class StartupFailure
{
    /// <summary>The lines that describe <paramref name="exception"/>, or none when it is not about a setting.</summary>
    /// <param name="exception">What stopped the start.</param>
    /// <param name="configuration">The configuration the broker read, to show the values as given.</param>
    public static IReadOnlyList<string> Describe(Exception exception, IConfiguration configuration)
    {
        var lines = new List<string>();
        Collect(exception, configuration, lines);
        return lines;
    }

    private static void Collect(Exception exception, IConfiguration configuration, List<string> lines)
    {
        switch (exception)
        {
            case OptionsValidationException invalid:
                lines.AddRange(invalid.Failures.Select(failure => Failure(invalid.OptionsType, failure, configuration)));
                break;
            case AggregateException many:
                foreach (var inner in many.InnerExceptions) Collect(inner, configuration, lines);
                break;
            case TargetInvocationException { InnerException: { } inner }:
                Collect(inner, configuration, lines);
                break;
            case InvalidOperationException when NotConvertible().Match(exception.Message) is { Success: true } m:
                lines.Add(Invalid(m.Groups["setting"].Value, configuration, $"must be {Expected(m.Groups["type"].Value)}."));
                break;
            // The database named by the connection string cannot be reached or refuses us: where, and why, in one line.
            case NpgsqlException unreachable:
                lines.Add(DatabaseFailure(unreachable, configuration));
                break;
            // The broker's own checks of its settings (the KEK, the database) name what to set.
            case InvalidOperationException when exception.Message.Contains("Broker:", StringComparison.Ordinal) ||
                                                exception.Message.Contains("Broker__", StringComparison.Ordinal) ||
                                                exception.Message.Contains("ConnectionStrings__", StringComparison.Ordinal):
                lines.Add(OneLine(exception.Message));
                break;
        }
    }

    private static string DatabaseFailure(NpgsqlException exception, IConfiguration configuration)
    {
        var where = "the database";
        try
        {
            // Where it is, never the password: host, port, database and user only.
            var given = new NpgsqlConnectionStringBuilder(configuration.GetConnectionString("Broker"));
            where = $"the database {given.Username}@{given.Host}:{given.Port}/{given.Database}";
        }
        catch (ArgumentException)
        {
        }
        var why = exception is PostgresException refused
            ? $"{refused.MessageText} (SQLSTATE {refused.SqlState})"
            : exception.InnerException is { } inner ? $"{exception.Message}: {inner.Message}" : exception.Message;
        return OneLine($"Cannot use {where} (ConnectionStrings:Broker, environment variable ConnectionStrings__Broker): {why}. " +
                       "Check that PostgreSQL runs there and accepts this user.");
    }

    private static string Failure(Type options, string failure, IConfiguration configuration)
    {
        if (DataAnnotationFailure().Match(failure) is { Success: true } m)
        {
            var member = m.Groups["member"].Value;
            var setting = SectionOf(options) is { } section ? $"{section}:{member}" : member;
            var property = options.GetProperty(member);
            var rule = property?.GetCustomAttribute<RangeAttribute>() is { } range
                ? $"must be between {range.Minimum} and {range.Maximum}."
                : OneLine(m.Groups["error"].Value.Replace($"The field {member} ", "", StringComparison.Ordinal));
            return Invalid(setting, configuration, rule);
        }
        // A rule of our own, whose message begins with the setting it is about.
        if (LeadingSetting().Match(failure) is { Success: true } own)
        {
            var setting = own.Groups["setting"].Value;
            return Invalid(setting, configuration, OneLine(failure[own.Length..].TrimStart()));
        }
        return OneLine(failure);
    }

    private static string Invalid(string setting, IConfiguration configuration, string rule)
    {
        var value = configuration[setting] is { } given
            ? IsSecret(setting) ? "(a value, not shown)" : $"\"{given}\""
            : "not set";
        return $"Invalid setting {setting} (environment variable {setting.Replace(":", "__", StringComparison.Ordinal)}): " +
               $"it is {value} and {rule}";
    }

    // Keys and secrets are never printed, not even when they are wrong.
    private static bool IsSecret(string setting)
    {
        var name = setting[(setting.LastIndexOf(':') + 1)..];
        return name.Contains("Key", StringComparison.OrdinalIgnoreCase) && !name.EndsWith("File", StringComparison.OrdinalIgnoreCase) ||
               name.Contains("Secret", StringComparison.OrdinalIgnoreCase) || name.Contains("Password", StringComparison.OrdinalIgnoreCase) ||
               int.TryParse(name, out _) && setting.Contains("Keys", StringComparison.OrdinalIgnoreCase);
    }

    private static string? SectionOf(Type options) =>
        options.GetField("Section", BindingFlags.Public | BindingFlags.Static)?.GetRawConstantValue() as string;

    private static string Expected(string type) => type switch
    {
        "System.TimeSpan" => "a duration written [d.]hh:mm:ss[.fff], e.g. 00:00:30",
        "System.Int32" or "System.Int64" => "a whole number",
        "System.Double" => "a number, e.g. 0.5",
        "System.Boolean" => "true or false",
        "System.Uri" => "an absolute URL",
        _ => $"a value of type {type}",
    };

    private static string OneLine(string text) => string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    [GeneratedRegex(@"^DataAnnotation validation failed for '[^']*' members: '(?<member>[^']+)' with the error: '(?<error>.*)'\.?$", RegexOptions.Singleline)]
    private static partial Regex DataAnnotationFailure();

    [GeneratedRegex(@"^Failed to convert configuration value (?:'[^']*' )?at '(?<setting>[^']+)' to type '(?<type>[^']+)'")]
    private static partial Regex NotConvertible();

    [GeneratedRegex(@"^(?<setting>Broker(?::[A-Za-z0-9]+)+)")]
    private static partial Regex LeadingSetting();
}
