using System.Collections.Concurrent;
using System.Net;
using Broker.Domain;
using Broker.Infrastructure.Security;
using Broker.Infrastructure.Tokens;
using Microsoft.Extensions.Options;

namespace Broker.Infrastructure.Audit;

/// <summary>
/// What one served token is counted by: who was handed which token of which account, how they authenticated
/// (<see cref="AuthenticatedClient.Identity"/>), from where, and whether from the cache.
/// </summary>
public readonly record struct ServedToken(
    Guid ClientId, string ClientName, string? Identity, Guid AccountId, string AccountName, string ProviderName, string TokenHmac,
    IPAddress? RemoteIp, bool FromCache);

/// <summary>
/// Served tokens counted in memory and written as rollups: one <c>token.served</c> row per (client, identity, account,
/// token hmac, address, hit/miss) and window, with its count and its first and last time. A row per fetch cost ~500 bytes
/// and a share of the database's CPU for what is mostly "service S was handed token T again"; the trail's questions
/// (who was handed T, which clients used which accounts how often, from where, first and last) need only the counts.
/// <see cref="AuditWriter"/> takes the window when it ends and on shutdown, so a crash loses at most the open window, and
/// adds its counts to the rows of the window's period (<see cref="AuditOptions.RollupPeriod"/>), shared by every instance.
/// </summary>
/// <remarks>
/// Counting is exact without a lock: a flush removes a tally from the map and then seals it; a fetch that found the
/// tally before it was removed either counts into it before the seal (and is written with it) or sees the seal and
/// counts into a fresh tally of the next window.
/// </remarks>
public sealed class ServedTokenRollups(IOptions<AuditOptions> options)
{
    private readonly ConcurrentDictionary<ServedToken, Tally> _open = new();
    private readonly int _maxKeys = options.Value.MaxRollupKeys;
    private readonly long _periodTicks = options.Value.RollupPeriod.Ticks;
    private int _keys;
    private volatile bool _closed;

    /// <summary>
    /// Counts a served token into the open window. False when it was not counted (the window holds
    /// <see cref="AuditOptions.MaxRollupKeys"/> combinations already, or the writer has stopped): the caller records
    /// it as an event of its own, so nothing goes uncounted.
    /// </summary>
    public bool Count(in ServedToken served, DateTimeOffset at, string requestId)
    {
        while (!_closed)
        {
            if (!_open.TryGetValue(served, out var tally))
            {
                if (Volatile.Read(ref _keys) >= _maxKeys) return false;
                tally = new Tally(at, requestId);
                if (!_open.TryAdd(served, tally)) continue;
                Interlocked.Increment(ref _keys);
            }
            if (tally.TryAdd(at)) return true;
            if (!tally.IsSealed) return false; // full (2^31 - 1 in one window): this one is recorded on its own
        }
        return false;
    }

    /// <summary>The open window's rollups, as audit rows; counting goes on into a new window.</summary>
    public List<AuditEvent> TakeWindow()
    {
        var rows = new List<AuditEvent>();
        foreach (var (served, _) in _open)
        {
            if (!_open.TryRemove(served, out var tally)) continue;
            Interlocked.Decrement(ref _keys);
            var (count, first, last) = tally.Seal();
            if (count == 0) continue; // sealed before its first fetch counted: that fetch went to the next window
            rows.Add(AuditRow.Rollup(first, last, count, AuditActions.TokenServed, served.FromCache ? "hit" : "miss",
                new Caller(served.ClientId, served.ClientName, tally.FirstRequestId, served.RemoteIp?.ToString(), served.Identity),
                served.AccountId, served.AccountName, served.ProviderName, tokenHmac: served.TokenHmac,
                periodStart: new DateTimeOffset(first.UtcTicks - first.UtcTicks % _periodTicks, TimeSpan.Zero)));
        }
        return rows;
    }

    /// <summary>No more counting (the writer is about to take the last window): later fetches are recorded one by one.</summary>
    public void Close() => _closed = true;

    private sealed class Tally(DateTimeOffset first, string firstRequestId)
    {
        private const int Sealed = -1;
        private int _count;
        private long _firstTicks = first.UtcTicks;
        private long _lastTicks = first.UtcTicks;

        public string FirstRequestId { get; } = firstRequestId;

        public bool IsSealed => Volatile.Read(ref _count) == Sealed;

        public bool TryAdd(DateTimeOffset at)
        {
            // The times first: a fetch that then finds the tally sealed moved them by the microseconds it took.
            Min(ref _firstTicks, at.UtcTicks);
            Max(ref _lastTicks, at.UtcTicks);
            while (true)
            {
                var count = Volatile.Read(ref _count);
                if (count is Sealed or int.MaxValue) return false;
                if (Interlocked.CompareExchange(ref _count, count + 1, count) == count) return true;
            }
        }

        public (int Count, DateTimeOffset First, DateTimeOffset Last) Seal() => (
            Interlocked.Exchange(ref _count, Sealed),
            new DateTimeOffset(Volatile.Read(ref _firstTicks), TimeSpan.Zero),
            new DateTimeOffset(Volatile.Read(ref _lastTicks), TimeSpan.Zero));

        private static void Min(ref long target, long value)
        {
            long current;
            while (value < (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current) { }
        }

        private static void Max(ref long target, long value)
        {
            long current;
            while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current) { }
        }
    }
}
