using Broker.Api.OpenApi;
using Broker.Api.Pipeline;
using Broker.Infrastructure.Persistence;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Broker.Api.Hosting;

/// <summary>
/// Ready means: the database answers, every migration this build knows is applied, and the change feed was read
/// lately (an instance that cannot read it would serve keys revoked meanwhile; it answers 503 once the caches are stale).
/// </summary>
public sealed class ReadinessCheck(MigrationRunner migrations, ChangeFeed changes) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        if (!changes.IsTrusted)
            return HealthCheckResult.Unhealthy(changes.SinceLastRead is { } since
                ? $"change feed not read for {since.TotalSeconds:F0} s; keys refused until it is"
                : "change feed not read yet; key directory not loaded");
        try
        {
            return await migrations.IsUpToDateAsync(ct)
                ? HealthCheckResult.Healthy("database reachable, migrations applied")
                : HealthCheckResult.Unhealthy("migrations not applied");
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("database unreachable");
        }
    }
}
