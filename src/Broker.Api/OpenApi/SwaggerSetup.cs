using Microsoft.OpenApi;

namespace Broker.Api.OpenApi;

public static class SwaggerSetup
{
    /// <summary>Whether the Swagger UI and the OpenAPI document are served; by default only in Development.</summary>
    public const string EnabledSetting = "Broker:Swagger:Enabled";

    /// <summary>The tag of the audit trail and the reports.</summary>
    public const string AuditTag = "Audit & reports";

    public static IServiceCollection AddBrokerSwagger(this IServiceCollection services)
    {
        services.AddEndpointsApiExplorer();
        services.AddSwaggerGen(o =>
        {
            o.SwaggerDoc("v1", new OpenApiInfo
            {
                Title = "Broker",
                Version = "v1",
                Description = "Hands internal services a currently valid access token for an upstream account, and lets admins " +
                              "manage providers, accounts and clients. Authorize with an API key (Bearer).",
            });
            o.AddSecurityDefinition("bearer", new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "The API key given when the client was created (brk_...).",
            });
            o.AddSecurityRequirement(document => new OpenApiSecurityRequirement
            {
                [new OpenApiSecuritySchemeReference("bearer", document)] = [],
            });
            o.SchemaFilter<ExampleSchemaFilter>();
            o.SchemaFilter<ContractSchemaFilter>();
            o.OperationFilter<ProblemExamplesFilter>();
            o.OperationFilter<RequestExampleFilter>();
            o.OperationFilter<QueryParameterDocs>();
            o.OperationFilter<AnonymousOperationFilter>();
            o.DocumentFilter<TagOrderFilter>();
            var xml = Path.Combine(AppContext.BaseDirectory, "Broker.Api.xml");
            if (File.Exists(xml)) o.IncludeXmlComments(xml);
        });
        return services;
    }
}
