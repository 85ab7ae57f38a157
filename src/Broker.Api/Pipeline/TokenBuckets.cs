using System.Collections.Concurrent;
using System.Diagnostics;

namespace Broker.Api.Pipeline;

/// <summary>
/// One token bucket per key (an address, a client), as the generic cell rate algorithm: a bucket is a single number
/// (the time at which it would be full again), moved with compare-and-swap. Every request of a caller passes its
/// bucket, so no lock may be taken: System.Threading.RateLimiting's partitioned limiter takes two per request, and
/// was ~8 % of a cached fetch's CPU time in a profile. Time is the monotonic high-resolution clock: this is about
/// real rates.
/// </summary>
public sealed class TokenBuckets<TKey>(int perSecond, int burst) where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Bucket> _buckets = new();
    private readonly long _interval = Math.Max(1, Stopwatch.Frequency / Math.Max(1, perSecond));
    private readonly long _burst = Math.Max(1, Stopwatch.Frequency / Math.Max(1, perSecond)) * Math.Max(0, burst - 1);
    private long _nextSweep = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 60;

    /// <summary>Takes one request from the key's bucket; false when it is empty.</summary>
    public bool TryTake(TKey key)
    {
        var now = Stopwatch.GetTimestamp();
        SweepIdleOnceAMinute(now);
        var bucket = _buckets.GetOrAdd(key, static _ => new Bucket());
        while (true)
        {
            var full = Volatile.Read(ref bucket.FullAt);
            var from = Math.Max(full, now);
            if (from - now > _burst) return false;
            if (Interlocked.CompareExchange(ref bucket.FullAt, from + _interval, full) == full) return true;
        }
    }

    /// <summary>Buckets that are full again are forgotten: memory grows with the keys of the last minute only.</summary>
    private void SweepIdleOnceAMinute(long now)
    {
        var next = Volatile.Read(ref _nextSweep);
        if (now < next || Interlocked.CompareExchange(ref _nextSweep, now + Stopwatch.Frequency * 60, next) != next) return;
        foreach (var (key, bucket) in _buckets)
        {
            if (Volatile.Read(ref bucket.FullAt) < now) _buckets.TryRemove(KeyValuePair.Create(key, bucket));
        }
    }

    private sealed class Bucket
    {
        public long FullAt;
    }
}
