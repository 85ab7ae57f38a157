using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Broker.Infrastructure.Audit;

/// <summary>
/// Flushes <see cref="AuditQueue"/> into <c>audit_events</c> in batches with binary COPY, and the rollups of
/// <see cref="ServedTokenRollups"/> at the end of each window. On shutdown it stops taking new events and writes
/// the open window and the queue before the host exits. A database that is down is waited for; an event
/// the database or Npgsql refuses (bad data, a constraint, a permission, an encoding error) is set aside, so the
/// rest of its batch is written, and an <c>audit.rejected</c> event says how many were.
/// </summary>
public sealed partial class AuditWriter(
    AuditQueue queue,
    ServedTokenRollups rollups,
    NpgsqlDataSource dataSource,
    TimeProvider time,
    IOptions<AuditOptions> options,
    ILogger<AuditWriter> logger) : SupervisedLoop(time, logger)
{
    private const string Copy =
        "COPY audit_events (at, action, outcome, client_id, client_name, account_id, account_name, provider_name, " +
        "upstream_status, upstream_ms, detail, request_id, remote_ip, token_hmac, count, first_at, last_at, identity) FROM STDIN (FORMAT BINARY)";

    private readonly List<AuditEvent> _batch = new(options.Value.BatchSize + 1);

    // Cancelled only when the host's shutdown deadline passes. A write under way when the stop signal comes is
    // let finish: cancelling it could abort a COPY the server has already committed, and the batch, kept for
    // the drain, would be written twice.
    private readonly CancellationTokenSource _abort = new();

    // Events refused and set aside, not yet recorded by an audit.rejected event.
    private long _rejected;

    /// <summary>Events the database or Npgsql refused since start-up (each recorded in an audit.rejected event).</summary>
    public long Rejected => Interlocked.Read(ref _rejectedTotal);

    private long _rejectedTotal;

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        // Two things wake the writer: queued events, and the end of a rollup window. Each wait is kept until it
        // completes: the queue is a single-reader channel, which allows one wait at a time.
        Task<bool>? queued = null;
        Task? windowEnd = null;
        try
        {
            while (true)
            {
                queued ??= queue.WaitToDequeueAsync(stoppingToken).AsTask();
                windowEnd ??= Task.Delay(options.Value.RollupWindow, Clock, stoppingToken);
                await Task.WhenAny(queued, windowEnd);

                var takeRollups = windowEnd.IsCompleted;
                if (takeRollups)
                {
                    await windowEnd;
                    windowEnd = null;
                }
                if (queued.IsCompleted)
                {
                    if (!await queued) return; // completed: StopAsync writes what is left
                    queued = null;
                    if (!takeRollups && queue.Depth < options.Value.BatchSize && options.Value.FlushInterval > TimeSpan.Zero)
                        await Task.Delay(options.Value.FlushInterval, Clock, stoppingToken); // on shutdown, StopAsync drains
                }
                await FlushAvailableAsync(takeRollups, _abort.Token);
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
            // Requests still finishing may enqueue after the loop stopped: drain until the queue is empty. Fetches
            // after the last window is taken are queued one by one (and counted as lost once the queue is complete).
            rollups.Close();
            queue.Complete();
            if (_abort.IsCancellationRequested)
            {
                LogLostAtShutdown(_batch.Count + queue.Depth);
                return;
            }
            try
            {
                await FlushAvailableAsync(takeRollups: true, _abort.Token);
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

    private async Task FlushAvailableAsync(bool takeRollups, CancellationToken ct)
    {
        // Into the batch, which is cleared only once written: a database outage keeps them like any event.
        if (takeRollups) _batch.AddRange(rollups.TakeWindow());
        while (true)
        {
            // A batch is cleared only once written: one whose write was interrupted is still here and goes first.
            while (_batch.Count < options.Value.BatchSize && queue.TryDequeue(out var next)) _batch.Add(next);

            var dropped = queue.TakeDropped();
            if (dropped > 0)
            {
                LogOverflow(dropped);
                _batch.Add(AuditRow.Of(Clock.GetUtcNow(), AuditActions.AuditOverflow, "dropped",
                    detail: $"{dropped} audit events were lost: the queue was full (see the log)"));
            }

            var rejected = Interlocked.Exchange(ref _rejected, 0);
            if (rejected > 0)
            {
                _batch.Add(AuditRow.Of(Clock.GetUtcNow(), AuditActions.AuditRejected, "dropped",
                    detail: $"{rejected} audit events were refused by the database and set aside (see the log for their actions)"));
            }

            if (_batch.Count == 0) return;
            var reportRefused = await WriteWithRetryAsync(ct);
            _batch.Clear();
            // The audit.rejected event was itself refused (the table takes nothing at the moment): its count is kept
            // for the next batch rather than retried at once, which would spin.
            if (reportRefused) return;
        }
    }

    /// <summary>Writes the batch; true when an audit.rejected event in it was itself refused.</summary>
    private async Task<bool> WriteWithRetryAsync(CancellationToken ct)
    {
        // A database outage must not lose the batch: keep trying (the queue bounds memory meanwhile).
        var oneByOne = false;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (oneByOne) return await WriteOneByOneAsync(ct);
                await CopyAsync(_batch, ct);
                return false;
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                if (!oneByOne && !await IsOutageAsync(e, ct))
                {
                    // One unwritable event must not block the trail: write the batch row by row, setting aside what is refused.
                    oneByOne = true;
                    attempt = 0;
                    continue;
                }
                LogWriteFailed(e, _batch.Count, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 100 * attempt * attempt)), Clock, ct);
            }
        }
    }

    /// <summary>
    /// Writes and removes the batch's events one at a Clock, so a retry after an outage never writes one twice.
    /// Returns true when an audit.rejected event was refused (its count is then kept for the next one).
    /// </summary>
    private async Task<bool> WriteOneByOneAsync(CancellationToken ct)
    {
        var reportRefused = false;
        while (_batch.Count > 0)
        {
            var next = _batch[0];
            try
            {
                await CopyAsync([next], ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                if (await IsOutageAsync(e, ct)) throw; // kept, and tried again once the database is back
                // Never the event's content: it is what the database could not take, and may be an attacker's text.
                LogRejected(next.Action, (e as PostgresException)?.SqlState ?? e.GetType().Name);
                if (next.Action == AuditActions.AuditRejected)
                {
                    reportRefused = true;
                    Interlocked.Add(ref _rejected, RejectedCountOf(next));
                }
                else
                {
                    Interlocked.Increment(ref _rejected);
                    Interlocked.Increment(ref _rejectedTotal);
                }
            }
            _batch.RemoveAt(0);
        }
        return reportRefused;
    }

    private static long RejectedCountOf(AuditEvent report) =>
        long.TryParse(report.Detail.AsSpan(0, report.Detail!.IndexOf(' ')), out var count) ? count : 1;

    /// <summary>
    /// The database is down or unreachable: trying again later succeeds. Anything else (a data error, a constraint,
    /// a permission, an encoding error thrown before anything was sent) fails again however often. A connection that
    /// broke while a row was written may be the row's doing: it is an outage only if the database does not answer
    /// a plain query either, else the row would be retried for ever.
    /// </summary>
    private async Task<bool> IsOutageAsync(Exception e, CancellationToken ct)
    {
        if (!DatabaseFaults.IsTransient(e)) return false;
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(ct);
            await using var probe = new NpgsqlCommand("SELECT 1", connection);
            await probe.ExecuteScalarAsync(ct);
            return false;
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            return true;
        }
    }

    private async Task CopyAsync(IReadOnlyList<AuditEvent> events, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        // Rollups and events in one transaction: a retry after a failure writes neither twice.
        await using var transaction = await connection.BeginTransactionAsync(ct);
        if (events.Any(e => e.PeriodStart is null)) await CopyEventsAsync(connection, events.Where(e => e.PeriodStart is null), ct);
        if (events.Any(e => e.PeriodStart is not null)) await MergeRollupsAsync(connection, [.. events.Where(e => e.PeriodStart is not null)], ct);
        await transaction.CommitAsync(ct);
    }

    /// <summary>
    /// Adds served-token rollups to their period's rows (<see cref="AuditOptions.RollupPeriod"/>): one row per (period,
    /// client, identity, account, token, address, hit/miss) however many windows and instances counted into it. The append-only
    /// trigger lets exactly this change through: a rollup row's count grows and its first and last times widen, under
    /// the transaction-local setting broker.audit_rollup, and nothing else of any row changes (migrations 0013, 0014).
    /// The merge leaves <c>at</c> as the row was first written and changes no indexed column, so PostgreSQL rewrites
    /// the row in place without new index entries (migration 0016).
    /// </summary>
    private static async Task MergeRollupsAsync(NpgsqlConnection connection, List<AuditEvent> rollups, CancellationToken ct)
    {
        const string Merge = """
            INSERT INTO audit_events (at, action, outcome, client_id, client_name, account_id, account_name, provider_name,
                                      request_id, remote_ip, token_hmac, count, first_at, last_at, period_start, identity)
            SELECT min(w.first_at), 'token.served', w.outcome, w.client_id, min(w.client_name), w.account_id, min(w.account_name),
                   min(w.provider_name), min(w.request_id), w.remote_ip, w.token_hmac, sum(w.count)::integer, min(w.first_at),
                   max(w.last_at), w.period_start, w.identity
              FROM unnest($1::timestamptz[], $2::varchar[], $3::uuid[], $4::varchar[], $5::uuid[], $6::varchar[], $7::varchar[],
                          $8::varchar[], $9::varchar[], $10::varchar[], $11::integer[], $12::timestamptz[], $13::timestamptz[],
                          $14::varchar[])
                   AS w(last_at, outcome, client_id, client_name, account_id, account_name, provider_name, request_id, remote_ip,
                        token_hmac, count, first_at, period_start, identity)
             GROUP BY w.period_start, w.client_id, w.identity, w.account_id, w.token_hmac, w.outcome, w.remote_ip
            ON CONFLICT (period_start, client_id, account_id, token_hmac, outcome, coalesce(remote_ip, ''), coalesce(identity, ''))
               WHERE period_start IS NOT NULL
            DO UPDATE SET count = audit_events.count + excluded.count,
                          first_at = least(audit_events.first_at, excluded.first_at),
                          last_at = greatest(coalesce(audit_events.last_at, audit_events.at), excluded.last_at)
            """;
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT set_config('broker.audit_rollup', 'on', true)"));
        var merge = new NpgsqlBatchCommand(Merge);
        merge.Parameters.Add(new() { Value = rollups.Select(e => e.LastAt).ToArray() });
        merge.Parameters.Add(new() { Value = rollups.Select(e => Text(e.Outcome, 40)).ToArray() });
        merge.Parameters.Add(new() { Value = rollups.Select(e => e.ClientId).ToArray() });
        merge.Parameters.Add(new() { Value = rollups.Select(e => Text(e.ClientName, Limits.Name)).ToArray() });
        merge.Parameters.Add(new() { Value = rollups.Select(e => e.AccountId).ToArray() });
        merge.Parameters.Add(new() { Value = rollups.Select(e => Text(e.AccountName, Limits.Name)).ToArray() });
        merge.Parameters.Add(new() { Value = rollups.Select(e => Text(e.ProviderName, Limits.Name)).ToArray() });
        merge.Parameters.Add(new() { Value = rollups.Select(e => Text(e.RequestId, 100)).ToArray() });
        merge.Parameters.Add(new() { Value = rollups.Select(e => Text(e.RemoteIp, 64)).ToArray() });
        merge.Parameters.Add(new() { Value = rollups.Select(e => Text(e.TokenHmac, 64)).ToArray() });
        merge.Parameters.Add(new() { Value = rollups.Select(e => e.Count).ToArray() });
        merge.Parameters.Add(new() { Value = rollups.Select(e => e.FirstAt).ToArray() });
        merge.Parameters.Add(new() { Value = rollups.Select(e => e.PeriodStart).ToArray() });
        merge.Parameters.Add(new() { Value = rollups.Select(e => Text(e.Identity, Limits.Identity)).ToArray() });
        batch.BatchCommands.Add(merge);
        await batch.ExecuteNonQueryAsync(ct);
    }

    private static async Task CopyEventsAsync(NpgsqlConnection connection, IEnumerable<AuditEvent> events, CancellationToken ct)
    {
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
            await importer.WriteAsync(e.Count, NpgsqlDbType.Integer, ct);
            await WriteNullable(importer, e.FirstAt, NpgsqlDbType.TimestampTz, ct);
            await WriteNullable(importer, e.LastAt, NpgsqlDbType.TimestampTz, ct);
            await WriteNullable(importer, Text(e.Identity, Limits.Identity), NpgsqlDbType.Varchar, ct);
        }
        await importer.CompleteAsync(ct);
    }

    /// <summary>
    /// Fits a value into its column. Names come from URLs a caller chose: a NUL (which PostgreSQL text cannot hold),
    /// a lone surrogate (which Npgsql cannot encode) or an overlong name must not make the batch fail.
    /// </summary>
    private static string? Text(string? value, int maxLength) => SafeText.Shorten(value, maxLength);

    private static Task WriteNullable<T>(NpgsqlBinaryImporter importer, T? value, NpgsqlDbType type, CancellationToken ct) =>
        value is null ? importer.WriteNullAsync(ct) : importer.WriteAsync(value, type, ct);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Dropped} audit events were lost (queue full); recorded as audit.overflow")]
    private partial void LogOverflow(long dropped);

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing {Count} audit events failed (attempt {Attempt}); retrying")]
    private partial void LogWriteFailed(Exception exception, int count, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Shutdown deadline passed before the audit queue was written: {Count} events lost")]
    private partial void LogLostAtShutdown(int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "An audit event (action {Action}) was refused ({Reason}); it is set aside and counted in audit.rejected")]
    private partial void LogRejected(string action, string reason);
}
