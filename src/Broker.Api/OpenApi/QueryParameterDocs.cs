using System.Text.Json.Nodes;
using Broker.Api.Audit;
using Broker.Domain;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace Broker.Api.OpenApi;

/// <summary>
/// Describes the audit and report query parameters, with their choices as dropdowns, so a newcomer can fill them
/// in Swagger UI without reading the code.
/// </summary>
public sealed class QueryParameterDocs : IOperationFilter
{
    private static readonly Dictionary<string, string> Descriptions = new(StringComparer.Ordinal)
    {
        ["from"] = "Start of the range, inclusive: ISO 8601, e.g. 2026-01-01T00:00:00Z (no offset means UTC).",
        ["to"] = "End of the range, exclusive: ISO 8601, e.g. 2026-02-01T00:00:00Z.",
        ["group_by"] = "Comma-separated keys, in the order the rows are grouped: client, account, provider, day or hour (UTC); e.g. client,account.",
        ["client"] = "Only this client's events (its name).",
        ["account"] = "Only this account's events (its name).",
        ["provider"] = "Only events of this provider's accounts (its name).",
        ["action"] = "Only events of this action.",
        ["format"] = "json (default), csv (also with Accept: text/csv), or svg: a chart per hour or day; group_by is not needed.",
        ["token_hmac"] = "Only events for the token with this keyed hash (POST /admin/audit/token-hmac computes it).",
        ["limit"] = "Events per page, 1 to 1000 (default 100).",
        ["cursor"] = "The next_cursor of the previous page, with the same filters.",
    };

    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        var path = context.ApiDescription.RelativePath ?? "";
        if (operation.Parameters is null || !(path.StartsWith("admin/audit", StringComparison.Ordinal) || path.StartsWith("admin/reports", StringComparison.Ordinal)))
            return;
        var report = path.StartsWith("admin/reports", StringComparison.Ordinal);
        foreach (var parameter in operation.Parameters.OfType<OpenApiParameter>().Where(p => p.In == ParameterLocation.Query))
        {
            if (parameter.Name is null) continue;
            if (Descriptions.TryGetValue(parameter.Name, out var description)) parameter.Description = description;
            if (report && parameter.Name is "from" or "to") parameter.Required = true;
            IEnumerable<string>? choices = parameter.Name switch
            {
                "format" => ["json", "csv", "svg"],
                "action" => report ? ReportsApi.CountedActions : AuditActions.All,
                _ => null,
            };
            if (choices is not null && parameter.Schema is OpenApiSchema schema) schema.Enum = [.. choices.Select(c => (JsonNode)JsonValue.Create(c))];
        }
    }
}
