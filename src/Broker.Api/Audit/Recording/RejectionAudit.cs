using System.Collections.Concurrent;
using System.Globalization;
using Broker.Api.Auth;
using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Tokens;

namespace Broker.Api.Audit.Recording;

/// <summary>
/// Failed authentications and rate-limit refusals, counted per action, client, address and minute and written as
/// one audit row per such minute with its count (and the reasons in its detail), when the minute is over (and on shutdown). One row
/// per refused request would let anyone with a network route fill the trail and load the database: the very
/// requests a limit refuses are the ones that come by the thousand.
/// </summary>
public sealed partial class RejectionAudit(AuditQueue audit, TimeProvider time, ILogger<RejectionAudit> logger) : BackgroundService
{
    private const string ReasonItem = "broker.rejection-reason";
    private static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<Key, Tally> _open = new();

    /// <summary>Says why this request is refused, for the count it goes into (a short fixed phrase, never caller text).</summary>
    public static void SetReason(HttpContext http, string reason) => http.Items[ReasonItem] = reason;

    /// <summary>Counts a refused request into its minute.</summary>
    public void Count(HttpContext http, string action, string defaultReason)
    {
        var now = time.GetUtcNow();
        var client = http.Client();
        var key = new Key(action, client?.Id, client?.Name, http.Connection.RemoteIpAddress?.ToString(), now.ToUnixTimeSeconds() / 60);
        var reason = http.Items[ReasonItem] as string ?? defaultReason;
        while (true)
        {
            var tally = _open.GetOrAdd(key, static (_, state) => new Tally(state.now, state.requestId), (now, requestId: http.TraceIdentifier));
            lock (tally)
            {
                if (tally.Written) continue; // flushed between the lookup and the lock: count into a new one
                tally.Count++;
                tally.Last = now;
                tally.Reasons[reason] = tally.Reasons.GetValueOrDefault(reason) + 1;
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

    /// <summary>Queues one event per finished minute (or every minute, on shutdown).</summary>
    public void Flush(bool all)
    {
        var minute = time.GetUtcNow().ToUnixTimeSeconds() / 60;
        foreach (var (key, tally) in _open)
        {
            if (!all && key.Minute >= minute) continue;
            if (!_open.TryRemove(key, out _)) continue;
            lock (tally)
            {
                tally.Written = true;
                audit.Enqueue(EventOf(key, tally));
            }
        }
    }

    private static AuditEvent EventOf(Key key, Tally tally)
    {
        var reasons = string.Join(", ", tally.Reasons.OrderByDescending(r => r.Value).Select(r => $"{r.Key}: {r.Value}"));
        var detail = string.Create(CultureInfo.InvariantCulture, $"{tally.Count} request(s) from {tally.First:HH:mm:ss} to {tally.Last:HH:mm:ss} UTC ({reasons})");
        return AuditRow.Rollup(tally.First, tally.Last, tally.Count, key.Action,
            key.Action == AuditActions.RequestRateLimited ? "too_many_requests" : "unauthorized",
            new Caller(key.ClientId, key.ClientName, tally.FirstRequestId, key.RemoteIp), detail: detail);
    }

    private readonly record struct Key(string Action, Guid? ClientId, string? ClientName, string? RemoteIp, long Minute);

    private sealed class Tally(DateTimeOffset first, string firstRequestId)
    {
        public DateTimeOffset First { get; } = first;
        public string FirstRequestId { get; } = firstRequestId;
        public DateTimeOffset Last { get; set; } = first;
        public int Count { get; set; }
        public bool Written { get; set; }
        public Dictionary<string, int> Reasons { get; } = new(StringComparer.Ordinal);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing the counts of refused requests failed; they are kept for the next flush")]
    private partial void LogFlushFailed(Exception exception);
}
