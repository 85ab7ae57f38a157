using Broker.Domain;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Broker.Infrastructure.Audit;

/// <summary>
/// Flushes <see cref="AuditQueue"/> into <c>audit_events</c> in batches with binary COPY. On shutdown it stops
/// taking new events and drains the queue before the host exits.
/// </summary>
public sealed partial class AuditWriter(
    AuditQueue queue,
    NpgsqlDataSource dataSource,
    TimeProvider time,
    IOptions<AuditOptions> options,
    ILogger<AuditWriter> logger) : BackgroundService
{
    private readonly List<AuditEvent> _batch = new(options.Value.BatchSize);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var reader = queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync(stoppingToken))
                await FlushAvailableAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        // Requests still finishing may enqueue after the loop stopped: drain until the queue is empty.
        queue.Complete();
        await FlushAvailableAsync(cancellationToken);
    }

    private async Task FlushAvailableAsync(CancellationToken ct)
    {
        while (true)
        {
            _batch.Clear();
            while (_batch.Count < options.Value.BatchSize && queue.Reader.TryRead(out var next)) _batch.Add(next);

            var dropped = queue.TakeDropped();
            if (dropped > 0)
            {
                LogOverflow(dropped);
                _batch.Add(new AuditEvent
                {
                    At = time.GetUtcNow(), Action = "audit.overflow", Outcome = "dropped",
                    Detail = $"{dropped} audit events were dropped because the queue was full",
                });
            }

            if (_batch.Count == 0) return;
            await WriteWithRetryAsync(ct);
        }
    }

    private async Task WriteWithRetryAsync(CancellationToken ct)
    {
        // A database outage must not lose the batch: keep trying (the queue bounds memory meanwhile).
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await CopyAsync(_batch, ct);
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException && !ct.IsCancellationRequested)
            {
                LogWriteFailed(e, _batch.Count, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 100 * attempt * attempt)), time, ct);
            }
        }
    }

    private async Task CopyAsync(IReadOnlyList<AuditEvent> events, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var importer = await connection.BeginBinaryImportAsync(
            "COPY audit_events (at, action, outcome, client_id, client_name, account_id, account_name, provider_name, " +
            "upstream_status, upstream_ms, detail, request_id, remote_ip) FROM STDIN (FORMAT BINARY)", ct);
        foreach (var e in events)
        {
            await importer.StartRowAsync(ct);
            await importer.WriteAsync(e.At, NpgsqlDbType.TimestampTz, ct);
            await importer.WriteAsync(e.Action, NpgsqlDbType.Varchar, ct);
            await importer.WriteAsync(e.Outcome, NpgsqlDbType.Varchar, ct);
            await WriteNullable(importer, e.ClientId, NpgsqlDbType.Uuid, ct);
            await WriteNullable(importer, e.ClientName, NpgsqlDbType.Varchar, ct);
            await WriteNullable(importer, e.AccountId, NpgsqlDbType.Uuid, ct);
            await WriteNullable(importer, e.AccountName, NpgsqlDbType.Varchar, ct);
            await WriteNullable(importer, e.ProviderName, NpgsqlDbType.Varchar, ct);
            await WriteNullable(importer, e.UpstreamStatus, NpgsqlDbType.Integer, ct);
            await WriteNullable(importer, e.UpstreamMs, NpgsqlDbType.Integer, ct);
            await WriteNullable(importer, e.Detail, NpgsqlDbType.Varchar, ct);
            await WriteNullable(importer, e.RequestId, NpgsqlDbType.Varchar, ct);
            await WriteNullable(importer, e.RemoteIp, NpgsqlDbType.Varchar, ct);
        }
        await importer.CompleteAsync(ct);
    }

    private static Task WriteNullable<T>(NpgsqlBinaryImporter importer, T? value, NpgsqlDbType type, CancellationToken ct) =>
        value is null ? importer.WriteNullAsync(ct) : importer.WriteAsync(value, type, ct);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The audit queue was full: {Dropped} events were dropped (recorded as audit.overflow)")]
    private partial void LogOverflow(long dropped);

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing {Count} audit events failed (attempt {Attempt}); retrying")]
    private partial void LogWriteFailed(Exception exception, int count, int attempt);
}
