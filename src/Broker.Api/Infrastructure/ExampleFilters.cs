using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Broker.Api.Admin;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace Broker.Api.Infrastructure;

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
                media.Example = Example(status, consumer, noun, creates: !path.Contains('{', StringComparison.Ordinal));
        }

        // Success first, then the problems in order (the group's shared problems were added before the endpoint's own).
        var ordered = operation.Responses.OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
        operation.Responses.Clear();
        foreach (var (code, response) in ordered) operation.Responses[code] = response;
    }

    private static JsonNode Example(int status, bool consumer, string noun, bool creates)
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
        var problem = new JsonObject { ["type"] = Problems.TypeBase + type, ["title"] = title, ["status"] = status };
        if (status == 400)
            problem["errors"] = new JsonObject { ["token_url"] = new JsonArray("must be an absolute http or https URL.") };
        return problem;
    }
}
