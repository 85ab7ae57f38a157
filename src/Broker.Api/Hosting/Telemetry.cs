using Broker.Api.Auth;
using Broker.Infrastructure.Observability;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Broker.Api.Hosting;

/// <summary>
/// OpenTelemetry: the broker's own meter and spans, ASP.NET Core, HttpClient (upstream calls), the runtime and
/// Npgsql. Exported over OTLP only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the exporter reads the other
/// OTEL_* variables itself), and scraped at <c>/metrics</c> only when <see cref="PrometheusOptions"/> say so.
/// </summary>
public static class Telemetry
{
    public const string OtlpEndpointSetting = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public static WebApplicationBuilder AddBrokerTelemetry(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<PrometheusOptions>().BindConfiguration(PrometheusOptions.Section).ValidateOnStart();
        var prometheus = builder.Configuration.GetSection(PrometheusOptions.Section).Get<PrometheusOptions>() ?? new();
        var otlp = !string.IsNullOrWhiteSpace(builder.Configuration[OtlpEndpointSetting]);

        // What to measure and trace, for whichever provider exists. A provider (and with it the cost of a span per
        // request and per SQL command) exists only when something reads it: Prometheus or OTLP here, a test's
        // in-memory exporter there.
        builder.Services.ConfigureOpenTelemetryMeterProvider(metrics => metrics
            .AddMeter(BrokerMetrics.MeterName)
            .AddAspNetCoreInstrumentation()
            .AddHttpClientInstrumentation()
            .AddRuntimeInstrumentation()
            .AddNpgsqlInstrumentation());
        builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing
            .AddSource(BrokerTracing.SourceName)
            // Request headers are never recorded (no option here asks for them): the Authorization header carries
            // the caller's key. The query string (min_validity only) is recorded with its values redacted.
            .AddAspNetCoreInstrumentation(o => o.Filter = http => !IsHousekeeping(http.Request.Path))
            .AddHttpClientInstrumentation()
            .AddProcessor(new OutboundSpanRedaction())
            // SQL text with parameters as placeholders ($1): Npgsql never records parameter values.
            .AddNpgsql());

        var telemetry = builder.Services.AddOpenTelemetry().ConfigureResource(resource => resource.AddService("broker"));
        if (prometheus.Enabled || otlp)
            telemetry.WithMetrics(metrics =>
            {
                if (prometheus.Enabled) metrics.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
                if (otlp) metrics.AddOtlpExporter();
            });
        if (otlp) telemetry.WithTracing(tracing => tracing.AddOtlpExporter());
        return builder;
    }

    /// <summary>Maps <c>/metrics</c> when enabled: with an admin or metrics key unless anonymous scrapes are allowed.</summary>
    public static WebApplication MapBrokerMetrics(this WebApplication app)
    {
        var prometheus = app.Configuration.GetSection(PrometheusOptions.Section).Get<PrometheusOptions>() ?? new();
        if (!prometheus.Enabled) return app;
        var endpoint = app.MapPrometheusScrapingEndpoint("/metrics");
        if (!prometheus.AllowAnonymous) endpoint.RequireClient(ClientRoles.Metrics);
        return app;
    }

    // Probes and scrapes every few seconds would drown the traces that matter.
    private static bool IsHousekeeping(PathString path) =>
        path.StartsWithSegments("/metrics") || path.StartsWithSegments("/health");
}
