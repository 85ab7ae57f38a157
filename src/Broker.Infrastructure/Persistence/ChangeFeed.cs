using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Broker.Infrastructure.Security;
using Broker.Infrastructure.Tokens;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Broker.Infrastructure.Persistence;

/// <summary>
/// What other instances changed, read from the <c>changes</c> table (migrations/0009_change_feed.sql) every
/// <see cref="ChangeFeedOptions.PollInterval"/> and applied here: a client's keys and grants to the
/// <see cref="ClientDirectory"/>, an account's tokens to the <see cref="TokenCache"/>, committed webhook events to the
/// dispatcher (<see cref="WebhookEventsCommitted"/>). Polling works through any pooler; a NOTIFY on
/// <see cref="Channel"/> only makes the next read come sooner. Each read is one statement on whatever connection the
/// pool gives: no session state (no LISTEN, no advisory lock, no prepared statement) is needed for correctness.
/// </summary>
/// <remarks>
/// Reads page by transaction visibility, not by id (ids are taken at insert, commits land in any order): a read
/// returns the rows of transactions from the last read's snapshot xmin on, skipping those already applied, and its own
/// snapshot's xmin is where the next read starts. Every transaction below a snapshot's xmin has ended, so no row
/// committed late is ever skipped. The feed's own timing runs on real time, not the broker's TimeProvider: a test clock
/// that stands still must not stop the feed, nor one moved forward make it look stale.
/// </remarks>
public sealed partial class ChangeFeed(
    NpgsqlDataSource dataSource,
    ClientDirectory clients,
    TokenCache tokens,
    IOptions<ChangeFeedOptions> options,
    TimeProvider time,
    ILogger<ChangeFeed> logger) : SupervisedLoop(time, logger)
{
    /// <summary>The NOTIFY channel that hints a change was written; only ever a hint.</summary>
    public const string Channel = "broker_changes";

    /// <summary>Written with a webhook event, in its transaction (<see cref="Webhooks.WebhookOutbox"/>).</summary>
    public const string WebhookEventsSql = $"INSERT INTO changes (kind) VALUES ('{ChangeKinds.WebhookEvents}'); SELECT pg_notify('{Channel}', '')";

    /// <summary>Reads that unknown keys ask for come at most this often: the bound on what a flood of bad keys costs.</summary>
    public static readonly TimeSpan ShortestGap = TimeSpan.FromMilliseconds(50);

    /// <summary>More client changes than this in one read reload the whole directory (one read instead of many).</summary>
    private const int MostClientsReadOneByOne = 20;

    /// <summary>
    /// The whole directory is read again this often: the safety net for a change whose feed row could not be written
    /// after it was committed (the database went away between the two).
    /// </summary>
    public static readonly TimeSpan FullReloadEvery = TimeSpan.FromMinutes(5);

    private static readonly TimeSpan PruneEvery = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan QuietCheck = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ListenRetry = TimeSpan.FromSeconds(5);

    private readonly Channel<bool> _wake = System.Threading.Channels.Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Lock _gate = new();
    private TaskCompletionSource? _nextRead;

    // The loop's alone (and StartAsync's, before the loop runs).
    private long? _position;
    private readonly Dictionary<long, long> _applied = []; // id → xid of rows applied whose xid is at or past _position
    private long _lastAttempt;
    private long _lastFullLoad;
    private bool _failing;

    private long _lastReadStart; // Stopwatch timestamp of the start of the last read that was applied
    private int _loaded;
    private long _reads;

    /// <summary>This instance, as named in the rows it writes.</summary>
    public string Instance { get; } = Guid.NewGuid().ToString("N")[..12];

    /// <summary>Raised with the rows of each read that were new to this instance, once applied (for tests and diagnostics).</summary>
    public event Action<IReadOnlyList<Change>>? Applied;

    /// <summary>Raised when a read finds webhook events committed (by any instance).</summary>
    public event Action? WebhookEventsCommitted;

    /// <summary>How many reads of the feed were applied (for tests that count what requests cost).</summary>
    public long Reads => Interlocked.Read(ref _reads);

    /// <summary>How long ago the last applied read started; null before the directory was first loaded.</summary>
    public TimeSpan? SinceLastRead => Volatile.Read(ref _loaded) == 0 ? null : Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastReadStart));

    /// <summary>
    /// Whether the caches may be trusted: the feed was read less than <see cref="ChangeFeedOptions.StaleAfter"/> ago.
    /// </summary>
    public bool IsTrusted => SinceLastRead is { } since && since < options.Value.StaleAfter;

    /// <summary>Throws <see cref="ChangeFeedBehindException"/> (a 503) when the caches may no longer be trusted.</summary>
    public void EnsureTrusted()
    {
        if (!IsTrusted)
            throw new ChangeFeedBehindException("The change feed has not been read recently; keys are not trusted until it is.");
    }

    /// <summary>
    /// Waits for a read that starts after this call, and its changes applied: what was committed before the call is
    /// then in the directory. All callers waiting share that one read, and reads come at most every
    /// <see cref="ShortestGap"/>, whatever the number of callers and their addresses.
    /// </summary>
    public Task CatchUpAsync(CancellationToken ct)
    {
        EnsureTrusted();
        Task next;
        lock (_gate) next = (_nextRead ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        _wake.Writer.TryWrite(true);
        // A feed that stops reading meanwhile answers with an exception; one that never gets there, with a timeout.
        return next.WaitAsync(options.Value.StaleAfter, ct);
    }

    /// <summary>Writes changes for every instance (this one has applied them already) and hints that they are there.</summary>
    public async Task PublishAsync(IReadOnlyCollection<(string Kind, string Subject)> changes, CancellationToken ct)
    {
        if (changes.Count == 0) return;
        await using var batch = dataSource.CreateBatch();
        var insert = new NpgsqlBatchCommand(
            "INSERT INTO changes (kind, subject, origin) SELECT kind, subject, $3 FROM unnest($1::text[], $2::text[]) AS c (kind, subject)");
        insert.Parameters.Add(new NpgsqlParameter { Value = changes.Select(c => c.Kind).ToArray() });
        insert.Parameters.Add(new NpgsqlParameter { Value = changes.Select(c => c.Subject).ToArray() });
        insert.Parameters.Add(new NpgsqlParameter { Value = Instance });
        batch.BatchCommands.Add(insert);
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT pg_notify('{Channel}', '')"));
        await batch.ExecuteNonQueryAsync(ct);
    }

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Before the server takes requests: every key is in memory from the first request on. A database that is
        // down delays nothing; the broker starts, reports not ready, answers 503 and the loop keeps trying.
        _lastAttempt = Stopwatch.GetTimestamp();
        try
        {
            await LoadEverythingAsync(cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            _failing = true;
            LogCannotRead(e);
        }
        await base.StartAsync(cancellationToken);
    }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        using var hints = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var listening = options.Value.Listen ? ListenForHintsAsync(hints.Token) : Task.CompletedTask;
        var lastPrune = Stopwatch.GetTimestamp() - Stopwatch.Frequency * (long)PruneEvery.TotalSeconds;
        try
        {
            while (true)
            {
                await WaitForNextReadAsync(stoppingToken);
                await ReadSafelyAsync(stoppingToken);
                if (Stopwatch.GetElapsedTime(lastPrune) < PruneEvery) continue;
                lastPrune = Stopwatch.GetTimestamp();
                await PruneSafelyAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            lock (_gate) _nextRead?.TrySetCanceled(stoppingToken);
        }
        finally
        {
            await hints.CancelAsync();
            await listening;
        }
    }

    /// <summary>Until the poll interval is over or a read is asked for (a hint, an unknown key), but not sooner than <see cref="ShortestGap"/>.</summary>
    private async Task WaitForNextReadAsync(CancellationToken ct)
    {
        var untilPoll = options.Value.PollInterval - Stopwatch.GetElapsedTime(_lastAttempt);
        if (untilPoll > TimeSpan.Zero)
        {
            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(ct);
            await Task.WhenAny(_wake.Reader.WaitToReadAsync(waiting.Token).AsTask(), Task.Delay(untilPoll, waiting.Token));
            await waiting.CancelAsync();
            ct.ThrowIfCancellationRequested();
        }
        _wake.Reader.TryRead(out _);
        var gap = ShortestGap - Stopwatch.GetElapsedTime(_lastAttempt);
        if (gap > TimeSpan.Zero) await Task.Delay(gap, ct);
    }

    /// <summary>One read; a database that cannot be read is logged once per outage, and the callers waiting for it get a 503.</summary>
    private async Task ReadSafelyAsync(CancellationToken ct)
    {
        TaskCompletionSource? waiting;
        lock (_gate)
        {
            waiting = _nextRead;
            _nextRead = null;
        }
        _lastAttempt = Stopwatch.GetTimestamp();
        try
        {
            if (_position is null || SinceLastRead >= options.Value.StaleAfter)
                await LoadEverythingAsync(ct); // never loaded, or out for so long that rows may have been pruned
            else if (Stopwatch.GetElapsedTime(_lastFullLoad) >= FullReloadEvery)
            {
                await ReadOnceAsync(ct);
                await clients.LoadAllAsync(ct);
                _lastFullLoad = Stopwatch.GetTimestamp();
            }
            else
                await ReadOnceAsync(ct);
            if (_failing) LogReadingAgain();
            _failing = false;
            waiting?.TrySetResult();
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            if (!_failing) LogCannotRead(e);
            _failing = true;
            waiting?.TrySetException(new ChangeFeedBehindException("The change feed cannot be read.", e));
        }
        catch (OperationCanceledException)
        {
            waiting?.TrySetCanceled(ct);
            throw;
        }
    }

    /// <summary>
    /// Takes the feed's position, then loads the whole directory and forgets every cached token: whatever changed
    /// before the position is in the load, whatever commits after it is read from the feed.
    /// </summary>
    private async Task LoadEverythingAsync(CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        await using var position = dataSource.CreateCommand("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint");
        var xmin = (long)(await position.ExecuteScalarAsync(ct))!;
        await clients.LoadAllAsync(ct);
        tokens.Clear();
        _position = xmin;
        _applied.Clear();
        _lastFullLoad = started;
        Read(started);
    }

    private async Task ReadOnceAsync(CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var changes = new List<Change>();
        var seen = new List<(long Id, long Xid)>();
        long xmin;
        await using (var read = dataSource.CreateCommand(
            """
            SELECT s.xmin, c.id, c.xid::text::bigint, c.kind, c.subject, c.origin
            FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin) AS s
            LEFT JOIN changes c ON c.xid >= $1::text::xid8
            ORDER BY c.id
            """))
        {
            read.Parameters.Add(new NpgsqlParameter { Value = _position!.Value.ToString(CultureInfo.InvariantCulture) });
            await using var reader = await read.ExecuteReaderAsync(ct);
            xmin = 0;
            while (await reader.ReadAsync(ct))
            {
                xmin = reader.GetInt64(0);
                if (await reader.IsDBNullAsync(1, ct)) continue;
                var id = reader.GetInt64(1);
                seen.Add((id, reader.GetInt64(2)));
                if (!_applied.ContainsKey(id)) changes.Add(new Change(id, reader.GetString(3), reader.GetString(4), reader.GetString(5)));
            }
        }

        await ApplyAsync(changes, ct);
        if (changes.Count > 0) Applied?.Invoke(changes);

        // Rows below the new xmin are never read again; the others are, and must not be applied twice.
        _position = xmin;
        foreach (var (id, xid) in seen) _applied[id] = xid;
        foreach (var (id, xid) in _applied.ToList())
            if (xid < xmin) _applied.Remove(id);
        Read(started);
    }

    private void Read(long started)
    {
        Interlocked.Exchange(ref _lastReadStart, started);
        Volatile.Write(ref _loaded, 1);
        Interlocked.Increment(ref _reads);
    }

    /// <summary>Applies changes (in id order). Kinds it does not know (from a newer version) reload everything: always safe.</summary>
    internal async Task ApplyAsync(IReadOnlyList<Change> changes, CancellationToken ct)
    {
        var everything = false;
        var webhookEvents = false;
        var changedClients = new HashSet<Guid>();
        var changedAccountProviders = new HashSet<string>(StringComparer.Ordinal);
        foreach (var change in changes)
        {
            switch (change.Kind)
            {
                case ChangeKinds.Client when Guid.TryParse(change.Subject, out var id):
                    changedClients.Add(id);
                    break;
                case ChangeKinds.Clients:
                    everything = true;
                    break;
                case ChangeKinds.Account:
                    // This instance dropped its copy before it wrote the row; dropping again would only cost a read.
                    if (change.Origin != Instance) tokens.Remove(change.Subject);
                    break;
                case ChangeKinds.AccountProvider:
                    changedAccountProviders.Add(change.Subject);
                    break;
                case ChangeKinds.WebhookEvents:
                    webhookEvents = true;
                    break;
                default:
                    everything = true;
                    tokens.Clear();
                    break;
            }
        }
        if (everything || changedClients.Count > MostClientsReadOneByOne) await clients.LoadAllAsync(ct);
        else
        {
            foreach (var id in changedClients)
                await clients.LoadClientAsync(id, ct);
            await clients.LoadAccountProvidersAsync(changedAccountProviders, ct);
        }
        if (webhookEvents) RaiseWebhookEventsCommitted();
    }

    private void RaiseWebhookEventsCommitted()
    {
        try
        {
            WebhookEventsCommitted?.Invoke();
        }
        catch (Exception e)
        {
            LogSubscriberFailed(e); // the dispatcher's poll finds the events anyway
        }
    }

    private async Task PruneSafelyAsync(CancellationToken ct)
    {
        try
        {
            await using var prune = dataSource.CreateCommand("DELETE FROM changes WHERE created_at < clock_timestamp() - $1");
            prune.Parameters.Add(new NpgsqlParameter { Value = options.Value.Retention });
            await prune.ExecuteNonQueryAsync(ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            LogCannotPrune(e); // the next prune takes these rows too
        }
    }

    /// <summary>LISTENs on a connection of its own for hints; reconnects after a pause. Reads never wait for it.</summary>
    private async Task ListenForHintsAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(ct);
                connection.Notification += (_, _) => _wake.Writer.TryWrite(true);
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", connection)) await listen.ExecuteNonQueryAsync(ct);
                while (true)
                {
                    // A query now and then: a connection whose server vanished without a word would be waited on for ever.
                    if (!await connection.WaitAsync(QuietCheck, ct))
                    {
                        await using var check = new NpgsqlCommand("SELECT 1", connection);
                        await check.ExecuteNonQueryAsync(ct);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogCannotListen(e);
            }
            try
            {
                await Task.Delay(ListenRetry, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Cannot read the change feed; keys and tokens are trusted for Broker:Changes:StaleAfter, then refused with 503 until it can")]
    private partial void LogCannotRead(Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Reading the change feed again")]
    private partial void LogReadingAgain();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not prune old change feed rows; the next prune tries again")]
    private partial void LogCannotPrune(Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Cannot LISTEN for change hints; changes are read every poll interval")]
    private partial void LogCannotListen(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A webhook events subscriber failed")]
    private partial void LogSubscriberFailed(Exception exception);
}

/// <summary>A row of the change feed.</summary>
public sealed record Change(long Id, string Kind, string Subject, string Origin);

/// <summary>What a change feed row says changed; its subject is named with each.</summary>
public static class ChangeKinds
{
    /// <summary>A client, its key or its grants (subject: the client's id).</summary>
    public const string Client = "client";

    /// <summary>What many clients' grants cover (an account deleted, a provider deleted). No subject.</summary>
    public const string Clients = "clients";

    /// <summary>
    /// An account was created or moved to another provider: its entry of the directory's account-to-provider map, which
    /// provider-wide grants are checked against (subject: the account's name). An instance of a version before this kind
    /// reloads everything on it, as on any kind it does not know.
    /// </summary>
    public const string AccountProvider = "account-provider";

    /// <summary>An account's stored tokens were replaced or dropped (subject: the account's name).</summary>
    public const string Account = "account";

    /// <summary>Webhook events were committed to the outbox. No subject.</summary>
    public const string WebhookEvents = "webhooks";
}
