using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Broker.Infrastructure.Audit;

/// <summary>
/// Deletes audit events older than <see cref="AuditOptions.RetentionDays"/>, once at start-up and then every
/// <see cref="AuditOptions.RetentionInterval"/>. It is the only code that may delete from the append-only table:
/// each batch runs in its own short transaction that sets <c>broker.audit_retention</c>, which the table's
/// trigger checks (migrations/0002_audit.sql). Instances running it at once skip each other's locked rows.
/// </summary>
public sealed partial class AuditRetention(
    NpgsqlDataSource dataSource,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    IOptions<AuditOptions> options,
    ILogger<AuditRetention> logger) : PeriodicLoop(time, logger)
{
    private readonly TaskCompletionSource _firstSweep = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Done once the start-up sweep has run (deleted or failed): a sweep of one's own does not race it after that.</summary>
    public Task FirstSweep => _firstSweep.Task;

    protected override TimeSpan Interval => options.Value.RetentionInterval;

    // Not before start-up is over: the migrations that create the table may still be running.
    protected override async Task ReadyAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            await started.Task.WaitAsync(stoppingToken);
    }

    protected override async Task TickAsync(CancellationToken stoppingToken)
    {
        try
        {
            await SweepAsync(stoppingToken);
        }
        finally
        {
            _firstSweep.TrySetResult();
        }
    }

    // Whatever it was (an outage, a trigger, a permission), the next tick tries again.
    protected override void TickFailed(Exception exception) => LogFailed(exception);

    /// <summary>Deletes every event older than the retention period, batch by batch. Returns how many.</summary>
    public async Task<long> SweepAsync(CancellationToken ct)
    {
        var cutoff = Clock.GetUtcNow() - TimeSpan.FromDays(options.Value.RetentionDays);
        var batchSize = options.Value.RetentionBatchSize;
        long total = 0;
        int deleted;
        do
        {
            deleted = await DeleteBatchAsync(cutoff, batchSize, ct);
            total += deleted;
        } while (deleted == batchSize);
        if (total > 0) LogDeleted(total, cutoff);
        return total;
    }

    private async Task<int> DeleteBatchAsync(DateTimeOffset cutoff, int batchSize, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await using (var allow = new NpgsqlCommand("SET LOCAL broker.audit_retention = 'on'", connection, tx))
            await allow.ExecuteNonQueryAsync(ct);
        await using var delete = new NpgsqlCommand(
            """
            DELETE FROM audit_events WHERE id IN (
                SELECT id FROM audit_events WHERE at < $1 ORDER BY at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
            """, connection, tx);
        delete.Parameters.Add(new() { Value = cutoff });
        delete.Parameters.Add(new() { Value = batchSize });
        var deleted = await delete.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
        return deleted;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Audit retention deleted {Count} events older than {Cutoff:O}")]
    private partial void LogDeleted(long count, DateTimeOffset cutoff);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Audit retention failed; it runs again at the next interval")]
    private partial void LogFailed(Exception exception);
}
