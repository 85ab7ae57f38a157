using System.Text.Json;
using System.Text.Json.Serialization;
using Broker.Api.Admin;
using Broker.Api.Audit;
using Broker.Api.Auth;
using Broker.Api.Infrastructure;
using Broker.Api.Tokens;
using Broker.Infrastructure;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;

namespace Broker.Api;

/// <summary>The composition root. Tests build it too, with their own settings, on a real Kestrel port.</summary>
public static class BrokerApp
{
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder);

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = 64 * 1024;
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
        });

        builder.AddInfrastructure();
        var services = builder.Services;
        services.AddHostedService<StartupTasks>();
        services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            json.SerializerOptions.DictionaryKeyPolicy = null;
            json.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
            json.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        });
        services.AddProblemDetails();
        services.AddExceptionHandler<ExceptionHandler>();
        services.AddAuthentication(ApiKeyAuthentication.Scheme)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthentication>(ApiKeyAuthentication.Scheme, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(ApiKeyAuthentication.AdminPolicy, policy => policy.RequireAuthenticatedUser().RequireRole("admin"));
        services.AddBrokerRateLimits(builder.Configuration);
        services.AddHealthChecks().AddCheck<ReadinessCheck>("database", tags: ["ready"]);
        services.AddBrokerSwagger();

        var app = builder.Build();
        app.UseMiddleware<FailureAudit>(); // outermost: sees the status every caller finally got
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();

        app.UseSwagger();
        app.UseSwaggerUI(ui => ui.DocumentTitle = "Broker");

        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") });

        app.MapTokens();
        app.MapProviders();
        app.MapAccounts();
        app.MapClients();
        app.MapAuditTrail();
        app.MapReports();
        return app;
    }
}
