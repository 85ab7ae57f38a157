using System.Text.Json;
using System.Text.Json.Serialization;
using Broker.Api.Admin;
using Broker.Api.Audit;
using Broker.Api.Audit.Recording;
using Broker.Api.Auth;
using Broker.Api.Connect;
using Broker.Api.Errors;
using Broker.Api.Hosting;
using Broker.Api.OpenApi;
using Broker.Api.Pipeline;
using Broker.Api.Tokens;
using Broker.Infrastructure;
using Broker.Infrastructure.Observability;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Broker.Api;

/// <summary>The composition root. Tests build it too, with their own settings, on a real Kestrel port.</summary>
public static class BrokerApp
{
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        // Before the caller's own additions: HTTPS endpoints it declares in code take these defaults when declared.
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = 64 * 1024;
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            if (context.Configuration.GetValue<bool>($"{ClientCertificateOptions.Section}:{nameof(ClientCertificateOptions.Enabled)}"))
                kestrel.ConfigureHttpsDefaults(https =>
                {
                    // Asked for, not required: a client without one is served by its API key or token.
                    https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                    // Kestrel would refuse in the handshake a certificate of a CA the machine does not trust, which the
                    // broker's CAs (the x509 issuers) are not: ClientCertificateIdentity checks it against them instead.
                    https.AllowAnyClientCertificate();
                });
        });
        configure?.Invoke(builder);

        var services = builder.Services;
        // First of the hosted services: migrations must exist before Data Protection reads its key ring.
        services.AddHostedService<StartupTasks>();
        builder.AddInfrastructure();
        services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            // Field names are matched exactly, as documented: "userName" is as unknown as "tokenUrl" (the web defaults ignore case).
            json.SerializerOptions.PropertyNameCaseInsensitive = false;
            json.SerializerOptions.DictionaryKeyPolicy = null;
            json.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
            json.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        });
        // Throw on an unreadable body instead of answering a bare 400, so ExceptionHandler can name the bad field.
        services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddProblemDetails(o => o.CustomizeProblemDetails = RequestErrors.Customize);
        services.AddExceptionHandler<ExceptionHandler>();
        services.AddBrokerRateLimits();
        services.AddHealthChecks().AddCheck<ReadinessCheck>("database", tags: ["ready"]);
        services.AddBrokerSwagger();
        services.AddOptions<ClientCertificateOptions>().BindConfiguration(ClientCertificateOptions.Section)
            .Validate<IConfiguration>((o, configuration) => o.ForwardedHeader is not { Length: > 0 } || ForwardedHeadersSetup.KnownProxies(configuration) is not null,
                $"{ClientCertificateOptions.Section}:{nameof(ClientCertificateOptions.ForwardedHeader)} is believed only from known proxies: " +
                $"set {ForwardedHeadersSettings.Section}:KnownProxies or KnownNetworks too.")
            .Validate(o => o.ForwardedHeader is not { Length: > 0 } header || ClientCertificateOptions.IsHeaderName(header),
                $"{ClientCertificateOptions.Section}:{nameof(ClientCertificateOptions.ForwardedHeader)} must be a header name " +
                "(letters, digits and '-'), other than Authorization.")
            .ValidateOnStart();
        services.AddOptions<ConnectOptions>().BindConfiguration(ConnectOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<PublicUrlOptions>().BindConfiguration(PublicUrlOptions.Section)
            .Validate(PublicUrlOptions.IsValid, "Broker:PublicBaseUrl must be an absolute http or https URL without query, fragment or credentials.")
            .ValidateOnStart();
        builder.AddBrokerTelemetry();

        // After the audit writer (registered by AddInfrastructure), so it stops first and its last counts are drained.
        services.AddSingleton<RejectionAudit>();
        services.AddHostedService(sp => sp.GetRequiredService<RejectionAudit>());

        var app = builder.Build();
        app.Services.GetRequiredService<BrokerMetrics>(); // its observable instruments exist from the start
        app.UseConfiguredForwardedHeaders(); // first: every later step sees the caller's address
        app.UseMiddleware<SecurityHeaders>();
        app.UseMiddleware<FailureAudit>(); // outermost of the rest: sees the status every caller finally got
        app.UseMiddleware<AddressRateLimit>(); // before authentication: bounds what an unknown caller costs
        app.UseExceptionHandler();
        app.UseRereadableJsonBodies(); // so an unknown field's report can name every unknown field
        app.UseStatusCodePages();
        app.UseMiddleware<CallerAuthentication>(); // who is calling, on the endpoints that say whom they serve

        // Outside Development the API's own description is published only when asked for.
        if (app.Configuration.GetValue(SwaggerSetup.EnabledSetting, app.Environment.IsDevelopment()))
        {
            app.UseSwagger();
            app.UseSwaggerUI(ui => ui.DocumentTitle = "Broker");
        }

        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains("ready"),
            ResponseWriter = ReadinessCheck.WriteAsync,
        });
        app.MapBrokerMetrics();

        app.MapTokens();
        app.MapProviders();
        app.MapAccounts();
        app.MapClients();
        app.MapIdentityBindings();
        app.MapIssuers();
        app.MapWebhooks();
        app.MapConnect();

        // The benchmark's ceiling: the same Kestrel, the same key check, no token work. Off unless asked for.
        if (app.Configuration.GetValue<bool>("Broker:Benchmark:CeilingEndpoint"))
            app.MapGet("/v1/ping", () => TypedResults.Ok(new Pong(Ok: true))).RequireClient(ClientRoles.TokenCaller).ExcludeFromDescription();
        app.MapAuditTrail();
        app.MapReports();
        return app;
    }
}

/// <summary>The benchmark ceiling's answer.</summary>
public sealed record Pong(bool Ok);
