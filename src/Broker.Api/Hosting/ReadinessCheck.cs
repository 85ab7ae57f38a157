using Broker.Infrastructure.Persistence;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace Broker.Api.Hosting;

/// <summary>
/// Ready means: the database answers, every migration this build knows is applied, and the change feed was read
/// lately (an instance that cannot read it would serve keys revoked meanwhile; it answers 503 once the caches are stale).
/// The answer names the host the connection reached (and the server behind it, through a pooler) and whether it takes
/// writes: during a failover it shows which side an instance is on. A read-only database still serves stored tokens
/// but refreshes none: degraded.
/// </summary>
public sealed class ReadinessCheck(NpgsqlDataSource dataSource, MigrationRunner migrations, ChangeFeed changes, StaleConnections stale) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        if (!changes.IsTrusted)
            return HealthCheckResult.Unhealthy(changes.SinceLastRead is { } since
                ? $"change feed not read for {since.TotalSeconds:F0} s; keys refused until it is"
                : "change feed not read yet; key directory not loaded");
        try
        {
            var (reached, writable) = await ReachAsync(ct);
            if (!await migrations.IsUpToDateAsync(ct)) return HealthCheckResult.Unhealthy($"database {reached}, migrations not applied");
            return writable
                ? HealthCheckResult.Healthy($"database {reached}, writable, migrations applied")
                : HealthCheckResult.Degraded($"database {reached}, read-only: tokens are refreshed again once it takes writes");
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            stale.Observe(e); // polled by the orchestrator: it often finds a failover before any request does
            return HealthCheckResult.Unhealthy("database unreachable");
        }
    }

    /// <summary>The status and what the check found, as plain text: "Healthy: database 10.0.0.5:5432, writable, migrations applied".</summary>
    public static Task WriteAsync(HttpContext http, HealthReport report)
    {
        http.Response.ContentType = "text/plain; charset=utf-8";
        var found = string.Join("; ", report.Entries.Values.Select(e => e.Description).Where(d => !string.IsNullOrEmpty(d)));
        return http.Response.WriteAsync(found.Length == 0 ? report.Status.ToString() : $"{report.Status}: {found}", http.RequestAborted);
    }

    private async Task<(string Reached, bool Writable)> ReachAsync(CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var command = new NpgsqlCommand(
            "SELECT host(inet_server_addr()) || ':' || inet_server_port(), NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'",
            connection);
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        var reached = $"{connection.Host}:{connection.Port}";
        // inet_server_addr is null over a Unix socket, and differs from the host reached through a pooler.
        var server = reader.IsDBNull(0) ? null : reader.GetString(0);
        return (server is null || server == reached ? reached : $"{reached} (server {server})", reader.GetBoolean(1));
    }
}
