using System.Collections.Concurrent;
using System.Net;
using Broker.Api.Infrastructure;
using Microsoft.Extensions.Options;

namespace Broker.Api.Auth;

/// <summary>
/// How many keys an address may have looked up in the database without success: at most
/// <see cref="RateLimitOptions.FailedLookupsPerMinute"/> per address and minute, counting the lookups still under
/// way. Past it, a key from that address that is not already cached is answered 429 without a lookup, so a flood of
/// made-up keys costs the database a handful of queries, while keys already known keep being served from the cache.
/// </summary>
public sealed class KeyLookupBudget(TimeProvider time, IOptions<RateLimitOptions> options)
{
    private readonly ConcurrentDictionary<IPAddress, Window> _windows = new();
    private long _lastSweepMinute;

    /// <summary>Takes a lookup from the address's budget; false when it is spent for this minute.</summary>
    public bool TryBegin(IPAddress? address)
    {
        var window = WindowOf(address);
        lock (window)
        {
            if (window.Failed + window.InFlight >= options.Value.FailedLookupsPerMinute) return false;
            window.InFlight++;
            return true;
        }
    }

    /// <summary>Ends a lookup begun with <see cref="TryBegin"/>; a lookup that found no client stays spent.</summary>
    public void End(IPAddress? address, bool found)
    {
        var window = WindowOf(address);
        lock (window)
        {
            window.InFlight = Math.Max(0, window.InFlight - 1);
            if (!found) window.Failed++;
        }
    }

    private Window WindowOf(IPAddress? address)
    {
        var minute = time.GetUtcNow().ToUnixTimeSeconds() / 60;
        SweepOnceAMinute(minute);
        var key = address ?? IPAddress.None;
        var window = _windows.GetOrAdd(key, static (_, m) => new Window(m), minute);
        if (window.Minute != minute)
        {
            lock (window)
            {
                if (window.Minute != minute)
                {
                    window.Minute = minute;
                    window.Failed = 0;
                }
            }
        }
        return window;
    }

    /// <summary>Addresses not seen for a minute are forgotten: memory grows with the addresses of the last minute only.</summary>
    private void SweepOnceAMinute(long minute)
    {
        var last = Interlocked.Read(ref _lastSweepMinute);
        if (last == minute || Interlocked.CompareExchange(ref _lastSweepMinute, minute, last) != last) return;
        foreach (var (address, window) in _windows)
        {
            if (window.Minute < minute - 1 && window.InFlight == 0) _windows.TryRemove(KeyValuePair.Create(address, window));
        }
    }

    private sealed class Window(long minute)
    {
        public long Minute = minute;
        public int Failed;
        public int InFlight;
    }
}
