using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Broker.Domain;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace Broker.Api.OpenApi;

/// <summary>
/// What the generated schemas cannot know from the C# types: the fixed values of the string fields that name a
/// choice (shown as dropdowns), and which fields are required. Every field of an answer is always present (null
/// when it has no value) except those serialized only when set; a request needs the fields listed here.
/// </summary>
public sealed class ContractSchemaFilter : ISchemaFilter
{
    private static readonly Dictionary<string, string[]> Choices = new(StringComparer.Ordinal)
    {
        ["dialect"] = [.. DialectNames.All],
        ["role"] = ["consumer", "admin"],
        ["client_authentication"] = ["basic", "body"],
        ["state"] = ["active", "needs_attention", "inactive"],
        ["kind"] = ["jwt", "x509"],
        ["certificate_field"] = ["uri_san", "subject_dn"],
    };

    // Fields a request is refused without, on every operation that takes it (a name may be left out on PUT).
    private static readonly Dictionary<string, string[]> RequestRequired = new(StringComparer.Ordinal)
    {
        ["ProviderRequest"] = ["dialect", "token_url"],
        ["AccountRequest"] = ["provider"],
        ["ClientRequest"] = ["name"],
        ["TokenHmacRequest"] = ["access_token"],
    };

    public void Apply(IOpenApiSchema schema, SchemaFilterContext context)
    {
        if (schema is not OpenApiSchema concrete || concrete.Properties is not { Count: > 0 } properties) return;
        if (context.Type.Namespace?.StartsWith("Broker.Api", StringComparison.Ordinal) != true) return;

        foreach (var (name, property) in properties)
            if (Choices.TryGetValue(name, out var values) && property is OpenApiSchema field)
                field.Enum = [.. values.Select(v => (JsonNode)JsonValue.Create(v))];

        var type = context.Type.Name;
        var required = RequestRequired.TryGetValue(type, out var fields) ? fields
            : IsRequest(type) ? []
            : AlwaysWritten(context.Type).Where(properties.ContainsKey).ToArray();
        if (required.Length > 0) concrete.Required = new HashSet<string>(required, StringComparer.Ordinal);
    }

    private static bool IsRequest(string type) => type.EndsWith("Request", StringComparison.Ordinal) || type.EndsWith("Patch", StringComparison.Ordinal);

    private static IEnumerable<string> AlwaysWritten(Type type) =>
        from p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
        where p.GetCustomAttribute<JsonIgnoreAttribute>() is not { Condition: not JsonIgnoreCondition.Never }
        select p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name);
}
