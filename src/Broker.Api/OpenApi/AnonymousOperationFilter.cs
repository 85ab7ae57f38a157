using Broker.Api.Auth;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace Broker.Api.OpenApi;

/// <summary>
/// The document requires the bearer key everywhere; an endpoint that serves anyone (the OAuth callback, which its
/// state authenticates) says so, or Swagger UI would send a key the browser of a consenting user never has.
/// </summary>
public sealed class AnonymousOperationFilter : IOperationFilter
{
    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        if (!context.ApiDescription.ActionDescriptor.EndpointMetadata.OfType<ClientRoles>().Any())
            operation.Security = [];
    }
}
