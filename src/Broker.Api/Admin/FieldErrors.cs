using System.Text.RegularExpressions;
using Broker.Domain;
using Broker.Infrastructure.Persistence;

namespace Broker.Api.Admin;

/// <summary>Collects every problem of a request body, so one 400 names all the bad fields at once.</summary>
public sealed partial class FieldErrors
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public bool Any => _errors.Count > 0;

    public bool Has(string field) => _errors.ContainsKey(field);

    public void Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list)) _errors[field] = list = [];
        list.Add(message);
    }

    /// <summary>Names appear in URLs: letters, digits, '.', '_' and '-', starting with a letter or digit.</summary>
    public void Name(string field, string? value)
    {
        if (string.IsNullOrEmpty(value)) Add(field, "is required.");
        else if (value.Length > Limits.Name) Add(field, $"must be at most {Limits.Name} characters.");
        else if (!NamePattern().IsMatch(value)) Add(field, "may contain only letters, digits, '.', '_' and '-', and must start with a letter or digit.");
    }

    /// <summary>Whether the broker could have created something of this name (see <see cref="Name"/>).</summary>
    public static bool IsName(string? value) => !string.IsNullOrEmpty(value) && value.Length <= Limits.Name && NamePattern().IsMatch(value);

    public void Url(string field, string? value, bool required)
    {
        if (string.IsNullOrEmpty(value))
        {
            if (required) Add(field, "is required.");
            return;
        }
        if (value.Length > Limits.Url) Add(field, $"must be at most {Limits.Url} characters.");
        else if (!SafeText.IsClean(value)) Add(field, "must be an absolute http or https URL.");
        else if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) ||
                 string.IsNullOrEmpty(uri.Host))
            Add(field, "must be an absolute http or https URL.");
        else if (!string.IsNullOrEmpty(uri.UserInfo))
            Add(field, "must not contain credentials; use client_id and client_secret.");
    }

    /// <summary>At most <paramref name="max"/> characters of text PostgreSQL can store and UTF-8 can encode.</summary>
    public void Length(string field, string? value, int max)
    {
        if (value is null) return;
        if (value.Length > max) Add(field, $"must be at most {max} characters.");
        else if (!SafeText.IsClean(value, oneLine: false)) Add(field, Unstorable);
    }

    private const string Unstorable = "must not contain NUL characters or unpaired surrogates.";

    public void Required(string field, string? value, string why)
    {
        if (string.IsNullOrEmpty(value)) Add(field, $"is required {why}.");
    }

    public void Range(string field, int? value, int min, int max)
    {
        if (value is { } v && (v < min || v > max)) Add(field, $"must be from {min} to {max}.");
    }

    public IDictionary<string, string[]> ToDictionary() => _errors.ToDictionary(e => e.Key, e => e.Value.ToArray());

    // \z, not $: $ also matches before a final line feed.
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]*\z")]
    private static partial Regex NamePattern();
}
