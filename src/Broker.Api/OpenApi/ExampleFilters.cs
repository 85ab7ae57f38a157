using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Broker.Api.Admin;
using Broker.Api.Errors;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace Broker.Api.OpenApi;

/// <summary>Puts each contract's example on its schema, written with the API's JSON settings (snake_case).</summary>
public sealed class ExampleSchemaFilter(IOptions<JsonOptions> json) : ISchemaFilter
{
    private readonly JsonSerializerOptions _options = new(json.Value.SerializerOptions) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public void Apply(IOpenApiSchema schema, SchemaFilterContext context)
    {
        if (schema is OpenApiSchema concrete && AdminExamples.ByType.TryGetValue(context.Type, out var example))
#pragma warning disable CS0618 // The document is OpenAPI 3.0, whose schemas have "example"; "examples" is 3.1's.
            concrete.Example = JsonSerializer.SerializeToNode(example, context.Type, _options);
#pragma warning restore CS0618
    }
}

/// <summary>
/// Puts the body's example on the request body itself, so Swagger UI's "Try it out" starts from a request that works
/// once its names are changed.
/// </summary>
public sealed class RequestExampleFilter(IOptions<JsonOptions> json) : IOperationFilter
{
    private readonly JsonSerializerOptions _options = new(json.Value.SerializerOptions) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        if (operation.RequestBody is not OpenApiRequestBody { Content: { } content }) return;
        var body = context.ApiDescription.ParameterDescriptions.FirstOrDefault(p => p.Source == Microsoft.AspNetCore.Mvc.ModelBinding.BindingSource.Body);
        if (body?.Type is not { } type || !AdminExamples.ByType.TryGetValue(type, out var example)) return;
        foreach (var media in content.Values.OfType<OpenApiMediaType>())
            media.Example = JsonSerializer.SerializeToNode(example, type, _options);
    }
}

/// <summary>
/// Gives every problem response an example of the problem it is: the stable type URI, a title, and for 400 the
/// errors map that names the fields.
/// </summary>
public sealed class ProblemExamplesFilter : IOperationFilter
{
    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        if (operation.Responses is null) return;
        var path = context.ApiDescription.RelativePath ?? "";
        var consumer = path.StartsWith("v1/", StringComparison.Ordinal);
        var noun = path.StartsWith("admin/providers", StringComparison.Ordinal) ? "provider"
            : path.StartsWith("admin/clients", StringComparison.Ordinal) ? "client" : "account";
        foreach (var (code, response) in operation.Responses)
        {
            if (!int.TryParse(code, out var status) || status < 400 || response is not OpenApiResponse concrete || concrete.Content is null) continue;
            foreach (var media in concrete.Content.Values.OfType<OpenApiMediaType>())
            {
                var example = Example(status, consumer, noun, creates: !path.Contains('{', StringComparison.Ordinal));
                if (status == 400)
                {
                    var (field, message) = InvalidField(path);
                    example["errors"] = new JsonObject { [field] = new JsonArray(message) };
                }
                media.Example = example;
            }
        }

        // Success first, then the problems in order (the group's shared problems were added before the endpoint's own).
        var ordered = operation.Responses.OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
        operation.Responses.Clear();
        foreach (var (code, response) in ordered) operation.Responses[code] = response;
    }

    /// <summary>A field this endpoint really refuses, with the message it gives, for its 400 example.</summary>
    private static (string Field, string Message) InvalidField(string path) => path switch
    {
        _ when path.StartsWith("admin/providers", StringComparison.Ordinal) => ("token_url", "must be an absolute http or https URL."),
        _ when path.EndsWith("/refresh-token", StringComparison.Ordinal) => ("refresh_token", "is required."),
        _ when path.StartsWith("admin/accounts", StringComparison.Ordinal) => ("provider", "no provider is named 'sliderul'."),
        _ when path.EndsWith("/grants", StringComparison.Ordinal) => ("accounts", "no account is named 'sliderule-prd'."),
        _ when path.EndsWith("/rotate", StringComparison.Ordinal) => ("overlap_seconds", "must be from 0 to 604800."),
        _ when path.EndsWith("/identities", StringComparison.Ordinal) => ("issuer", "names no trusted issuer (see /admin/issuers)."),
        _ when path.StartsWith("admin/issuers", StringComparison.Ordinal) => ("audience", "is required: a token must be meant for this broker."),
        _ when path.StartsWith("admin/clients", StringComparison.Ordinal) => ("role", "must be consumer, admin or metrics."),
        _ when path.StartsWith("admin/audit/token-hmac", StringComparison.Ordinal) => ("access_token", "is required."),
        _ when path.StartsWith("admin/audit", StringComparison.Ordinal) => ("action", "must be one of account.created, account.deleted, …"),
        _ when path.StartsWith("admin/reports", StringComparison.Ordinal) => ("group_by", "must be a comma-separated list of client, account, provider, day, hour (e.g. client,account)."),
        _ when path.EndsWith("/rejected", StringComparison.Ordinal) => ("access_token", "has a value of the wrong type."),
        _ => ("min_validity", "min_validity is a whole number of seconds from 0 to 3600."),
    };

    private static JsonObject Example(int status, bool consumer, string noun, bool creates)
    {
        var (type, title) = status switch
        {
            400 => (Problems.BadRequest, "The request is not valid."),
            401 => (Problems.Unauthorized, "A valid API key is required."),
            403 when consumer => (Problems.NotGranted, "This client is not granted that account."),
            403 => (Problems.Forbidden, "This API key may not do that."),
            404 => (Problems.NotFound, $"No such {noun}."),
            409 when consumer => (Problems.CredentialsRejected, "The upstream rejected this account's credentials; an admin must update them."),
            409 when creates => (Problems.Conflict, $"{(noun == "account" ? "An" : "A")} {noun} named 'sliderule' exists already."),
            409 => (Problems.Conflict, $"That conflicts with the {noun}'s current state."),
            429 => (Problems.RateLimited, "Too many requests from this client."),
            502 => (Problems.UpstreamProtocolError, "The upstream answered something the broker cannot read."),
            503 when consumer => (Problems.UpstreamUnavailable, "The upstream is unavailable; try again later."),
            503 => (Problems.DatabaseUnavailable, "The database is unavailable."),
            504 => (Problems.UpstreamTimeout, "The upstream did not answer in time; try again later."),
            _ => (Problems.Internal, "Something went wrong."),
        };
        return new JsonObject { ["type"] = Problems.TypeBase + type, ["title"] = title, ["status"] = status };
    }
}
