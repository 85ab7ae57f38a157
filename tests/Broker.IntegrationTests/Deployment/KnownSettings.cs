using System.Collections;
using System.Reflection;
using Broker.Api.Auth;
using Broker.Api.Hosting;
using Broker.Api.OpenApi;
using Broker.Api.Pipeline;
using Broker.Infrastructure;
using Broker.Infrastructure.Tokens;

namespace Broker.IntegrationTests.Deployment;

/// <summary>
/// Every configuration key the broker reads: the properties of each options class (found by its <c>Section</c>
/// constant, so a new options class is included without editing this list) and the few keys read directly.
/// </summary>
public static class KnownSettings
{
    public static IReadOnlyList<Setting> All { get; } = Discover();

    public static IReadOnlySet<string> Keys { get; } = All.Select(s => s.Key).ToHashSet(StringComparer.Ordinal);

    /// <summary>A configuration key such as <c>Broker:Tokens:ClockSkew</c>; collections take indexes (<c>…:0</c>).</summary>
    public sealed record Setting(string Key, bool IsCollection)
    {
        /// <summary>The environment variable name; for a collection, that of its first item.</summary>
        public string EnvName => Key.Replace(":", "__") + (IsCollection ? "__0" : "");
    }

    private static List<Setting> Discover()
    {
        var settings = new List<Setting>
        {
            new($"ConnectionStrings:{DependencyInjection.ConnectionStringName}", false),
            new(AdminBootstrap.AdminKeySetting, false),
            new(StartupTasks.MigrateOnStartupSetting, false),
            new(SwaggerSetup.EnabledSetting, false),
        };
        var assemblies = new[] { typeof(TokenOptions).Assembly, typeof(RateLimitOptions).Assembly };
        foreach (var type in assemblies.SelectMany(a => a.GetTypes()))
        {
            if (type.GetField("Section", BindingFlags.Public | BindingFlags.Static) is not { IsLiteral: true } field) continue;
            var section = (string)field.GetRawConstantValue()!;
            if (!section.StartsWith("Broker:", StringComparison.Ordinal)) continue;
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod?.IsPublic == true))
            {
                var isCollection = property.PropertyType != typeof(string) && typeof(IEnumerable).IsAssignableFrom(property.PropertyType);
                settings.Add(new Setting($"{section}:{property.Name}", isCollection));
            }
        }
        return settings;
    }
}
