using System.Collections.Concurrent;
using System.Globalization;
using Broker.Api.Admin;
using Broker.Api.Auth;
using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Tokens;

namespace Broker.Api.Audit.Recording;

/// <summary>
/// Refusals that come by the thousand — failed authentications, rate-limit refusals, connect callbacks with an unknown
/// state, account names a client is not granted — counted per action, client, address and minute, and written as one
/// audit row and one log line per such minute with its count (and the reasons in its detail), when the minute is over
/// (and on shutdown). One row or line per refused request would let anyone with a network route fill the trail, the
/// log and the disk: the very requests a limit refuses are the ones that come by the thousand. A minute's log lines
/// are capped too (<see cref="MaxLogLinesPerFlush"/>), for a flood from many addresses.
/// </summary>
public sealed partial class RejectionAudit(AuditQueue audit, TimeProvider time, ILogger<RejectionAudit> logger) : BackgroundService
{
    private const string ReasonItem = "broker.rejection-reason";
    private static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(5);
    private const int MaxLogLinesPerFlush = 20;
    private const int MaxAccountsNamed = 5;

    private readonly ConcurrentDictionary<Key, Tally> _open = new();

    /// <summary>Says why this request is refused, for the count it goes into (a short fixed phrase, never caller text).</summary>
    public static void SetReason(HttpContext http, string reason) => http.Items[ReasonItem] = reason;

    /// <summary>
    /// Counts a refused request into its minute. <paramref name="outcome"/> defaults to the action's usual one;
    /// <paramref name="account"/> is the name asked for: a row keeps a few, and names the account when it is one.
    /// </summary>
    public void Count(HttpContext http, string action, string defaultReason, string? outcome = null, string? account = null)
    {
        var now = time.GetUtcNow();
        var client = http.Client();
        var key = new Key(action, outcome ?? OutcomeOf(action), client?.Id, client?.Name, client?.Identity,
            http.Connection.RemoteIpAddress?.ToString(), now.ToUnixTimeSeconds() / 60);
        var reason = http.Items[ReasonItem] as string ?? defaultReason;
        RequestAudit.MarkRecorded(http);
        while (true)
        {
            var tally = _open.GetOrAdd(key, static (_, state) => new Tally(state.now, state.requestId), (now, requestId: http.TraceIdentifier));
            lock (tally)
            {
                if (tally.Written) continue; // flushed between the lookup and the lock: count into a new one
                tally.Count++;
                tally.Last = now;
                tally.Reasons[reason] = tally.Reasons.GetValueOrDefault(reason) + 1;
                if (account is not null && tally.Accounts.Count < MaxAccountsNamed) tally.Accounts.Add(account);
                return;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(FlushInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    Flush(all: false);
                }
                catch (Exception e)
                {
                    LogFlushFailed(e); // never ends the loop: the counts stay and go with the next flush
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>On shutdown the open minutes are written too, before the audit writer drains its queue (it stops after us).</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        Flush(all: true);
    }

    /// <summary>Queues one event, and logs one line, per finished minute (or every minute, on shutdown).</summary>
    public void Flush(bool all)
    {
        var minute = time.GetUtcNow().ToUnixTimeSeconds() / 60;
        int logged = 0, unlogged = 0, unloggedRequests = 0;
        foreach (var (key, tally) in _open)
        {
            if (!all && key.Minute >= minute) continue;
            if (!_open.TryRemove(key, out _)) continue;
            lock (tally)
            {
                tally.Written = true;
                var detail = DetailOf(tally);
                audit.Enqueue(AuditRow.Rollup(tally.First, tally.Last, tally.Count, key.Action, key.Outcome,
                    new Caller(key.ClientId, key.ClientName, tally.FirstRequestId, key.RemoteIp, key.Identity),
                    account: tally.Accounts.Count == 1 ? tally.Accounts.Single() : null, detail: detail));
                if (logged++ < MaxLogLinesPerFlush) LogRefused(key.Action, key.Outcome, key.RemoteIp ?? "unknown", key.ClientName ?? "none", detail);
                else (unlogged, unloggedRequests) = (unlogged + 1, unloggedRequests + tally.Count);
            }
        }
        if (unlogged > 0) LogMoreRefused(unlogged, unloggedRequests);
    }

    private static string DetailOf(Tally tally)
    {
        var reasons = string.Join(", ", tally.Reasons.OrderByDescending(r => r.Value).Select(r => $"{r.Key}: {r.Value}"));
        // Only names the broker could have created go into the text; the account column (cut to its size) names any.
        var named = tally.Accounts.Where(FieldErrors.IsName).ToList();
        var accounts = named.Count == 0 ? "" : $"; accounts asked for: {string.Join(", ", named)}{(tally.Accounts.Count == MaxAccountsNamed ? ", …" : "")}";
        return string.Create(CultureInfo.InvariantCulture, $"{tally.Count} request(s) from {tally.First:HH:mm:ss} to {tally.Last:HH:mm:ss} UTC ({reasons}{accounts})");
    }

    private static string OutcomeOf(string action) => action == AuditActions.RequestRateLimited ? "too_many_requests" : "unauthorized";

    private readonly record struct Key(string Action, string Outcome, Guid? ClientId, string? ClientName, string? Identity, string? RemoteIp, long Minute);

    private sealed class Tally(DateTimeOffset first, string firstRequestId)
    {
        public DateTimeOffset First { get; } = first;
        public string FirstRequestId { get; } = firstRequestId;
        public DateTimeOffset Last { get; set; } = first;
        public int Count { get; set; }
        public bool Written { get; set; }
        public Dictionary<string, int> Reasons { get; } = new(StringComparer.Ordinal);
        public SortedSet<string> Accounts { get; } = new(StringComparer.Ordinal);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused {Action} ({Outcome}) from {RemoteIp}, client {Client}: {Detail}")]
    private partial void LogRefused(string action, string outcome, string remoteIp, string client, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused requests from {Sources} more address(es) and client(s), {Requests} request(s) in all: see the audit trail")]
    private partial void LogMoreRefused(int sources, int requests);

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing the counts of refused requests failed; they are kept for the next flush")]
    private partial void LogFlushFailed(Exception exception);
}
