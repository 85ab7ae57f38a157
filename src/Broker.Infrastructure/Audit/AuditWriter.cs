using Broker.Domain;
using Broker.Infrastructure.Persistence;
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
    private const string Copy =
        "COPY audit_events (at, action, outcome, client_id, client_name, account_id, account_name, provider_name, " +
        "upstream_status, upstream_ms, detail, request_id, remote_ip, token_hmac) FROM STDIN (FORMAT BINARY)";

    private readonly List<AuditEvent> _batch = new(options.Value.BatchSize + 1);

    // Cancelled only when the host's shutdown deadline passes. A write under way when the stop signal comes is
    // let finish: cancelling it could abort a COPY the server has already committed, and the batch, kept for
    // the drain, would be written twice.
    private readonly CancellationTokenSource _abort = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await queue.WaitToDequeueAsync(stoppingToken))
            {
                if (queue.Depth < options.Value.BatchSize && options.Value.FlushInterval > TimeSpan.Zero)
                    await Task.Delay(options.Value.FlushInterval, time, stoppingToken); // on shutdown, StopAsync drains
                await FlushAvailableAsync(_abort.Token);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await using (cancellationToken.Register(_abort.Cancel))
        {
            await base.StopAsync(cancellationToken);
            // Requests still finishing may enqueue after the loop stopped: drain until the queue is empty.
            queue.Complete();
            if (_abort.IsCancellationRequested)
            {
                LogLostAtShutdown(_batch.Count + queue.Depth);
                return;
            }
            try
            {
                await FlushAvailableAsync(_abort.Token);
            }
            catch (OperationCanceledException) when (_abort.IsCancellationRequested)
            {
                LogLostAtShutdown(_batch.Count + queue.Depth);
            }
        }
    }

    public override void Dispose()
    {
        _abort.Dispose();
        base.Dispose();
    }

    private async Task FlushAvailableAsync(CancellationToken ct)
    {
        while (true)
        {
            // A batch is cleared only once written: one whose write was interrupted is still here and goes first.
            while (_batch.Count < options.Value.BatchSize && queue.TryDequeue(out var next)) _batch.Add(next);

            var dropped = queue.TakeDropped();
            if (dropped > 0)
            {
                LogOverflow(dropped);
                _batch.Add(new AuditEvent
                {
                    At = time.GetUtcNow(), Action = AuditActions.AuditOverflow, Outcome = "dropped",
                    Detail = $"{dropped} audit events were lost: the queue was full or the database refused them (see the log)",
                });
            }

            if (_batch.Count == 0) return;
            await WriteWithRetryAsync(ct);
            _batch.Clear();
        }
    }

    private async Task WriteWithRetryAsync(CancellationToken ct)
    {
        // A database outage must not lose the batch: keep trying (the queue bounds memory meanwhile).
        var oneByOne = false;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (oneByOne) await WriteOneByOneAsync(ct);
                else await CopyAsync(_batch, ct);
                return;
            }
            catch (PostgresException e) when (!oneByOne && IsBadData(e))
            {
                // One unwritable event must not block the trail forever: write the batch row by row instead.
                oneByOne = true;
                attempt = 0;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException && !ct.IsCancellationRequested)
            {
                LogWriteFailed(e, _batch.Count, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 100 * attempt * attempt)), time, ct);
            }
        }
    }

    /// <summary>Writes and removes the batch's events one at a time, so a retry after an outage never writes one twice.</summary>
    private async Task WriteOneByOneAsync(CancellationToken ct)
    {
        while (_batch.Count > 0)
        {
            try
            {
                await CopyAsync([_batch[0]], ct);
            }
            catch (PostgresException e) when (IsBadData(e))
            {
                LogRejected(e.SqlState, _batch[0].Action);
                queue.CountDropped(1); // recorded by the next audit.overflow event
            }
            _batch.RemoveAt(0);
        }
    }

    /// <summary>Data exceptions (class 22) and constraint violations (23) fail again however often we retry.</summary>
    private static bool IsBadData(PostgresException e) => e.SqlState.StartsWith("22", StringComparison.Ordinal) || e.SqlState.StartsWith("23", StringComparison.Ordinal);

    private async Task CopyAsync(IReadOnlyList<AuditEvent> events, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var importer = await connection.BeginBinaryImportAsync(Copy, ct);
        foreach (var e in events)
        {
            await importer.StartRowAsync(ct);
            await importer.WriteAsync(e.At, NpgsqlDbType.TimestampTz, ct);
            await importer.WriteAsync(Text(e.Action, 40)!, NpgsqlDbType.Varchar, ct);
            await importer.WriteAsync(Text(e.Outcome, 40)!, NpgsqlDbType.Varchar, ct);
            await WriteNullable(importer, e.ClientId, NpgsqlDbType.Uuid, ct);
            await WriteNullable(importer, Text(e.ClientName, Limits.Name), NpgsqlDbType.Varchar, ct);
            await WriteNullable(importer, e.AccountId, NpgsqlDbType.Uuid, ct);
            await WriteNullable(importer, Text(e.AccountName, Limits.Name), NpgsqlDbType.Varchar, ct);
            await WriteNullable(importer, Text(e.ProviderName, Limits.Name), NpgsqlDbType.Varchar, ct);
            await WriteNullable(importer, e.UpstreamStatus, NpgsqlDbType.Integer, ct);
            await WriteNullable(importer, e.UpstreamMs, NpgsqlDbType.Integer, ct);
            await WriteNullable(importer, Text(e.Detail, Limits.Detail), NpgsqlDbType.Varchar, ct);
            await WriteNullable(importer, Text(e.RequestId, 100), NpgsqlDbType.Varchar, ct);
            await WriteNullable(importer, Text(e.RemoteIp, 64), NpgsqlDbType.Varchar, ct);
            await WriteNullable(importer, Text(e.TokenHmac, 64), NpgsqlDbType.Varchar, ct);
        }
        await importer.CompleteAsync(ct);
    }

    /// <summary>
    /// Fits a value into its column. Names come from URLs a caller chose: a NUL (which PostgreSQL text cannot hold)
    /// or an overlong name must not make the whole batch fail.
    /// </summary>
    private static string? Text(string? value, int maxLength)
    {
        if (value is null) return null;
        if (value.Contains('\0')) value = value.Replace("\0", "\uFFFD", StringComparison.Ordinal);
        return value.Length <= maxLength ? value : value[..maxLength];
    }

    private static Task WriteNullable<T>(NpgsqlBinaryImporter importer, T? value, NpgsqlDbType type, CancellationToken ct) =>
        value is null ? importer.WriteNullAsync(ct) : importer.WriteAsync(value, type, ct);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Dropped} audit events were lost (queue full or refused by the database); recorded as audit.overflow")]
    private partial void LogOverflow(long dropped);

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing {Count} audit events failed (attempt {Attempt}); retrying")]
    private partial void LogWriteFailed(Exception exception, int count, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Shutdown deadline passed before the audit queue was written: {Count} events lost")]
    private partial void LogLostAtShutdown(int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "PostgreSQL refused an audit event ({SqlState}, action {Action}); it is dropped and counted")]
    private partial void LogRejected(string sqlState, string action);
}
