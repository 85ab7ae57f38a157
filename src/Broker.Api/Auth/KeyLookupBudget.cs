using System.Collections.Concurrent;
using System.Net;
using Broker.Api.Infrastructure;
using Broker.Infrastructure.Security;
using Microsoft.Extensions.Options;

namespace Broker.Api.Auth;

/// <summary>
/// How many distinct keys an address may have looked up in the database without success: at most
/// <see cref="RateLimitOptions.FailedLookupsPerMinute"/> per address and minute, counting the distinct keys whose
/// lookup is still under way. Past it, a key from that address that is not already cached is answered 429 without a
/// lookup, so a flood of made-up keys costs the database a handful of queries, while keys already known keep being
/// served from the cache. Requests for a key whose lookup is under way join it at no cost: one service starting
/// a thousand requests with its key on a cold instance spends one lookup, not a thousand.
/// </summary>
public sealed class KeyLookupBudget(TimeProvider time, IOptions<RateLimitOptions> options)
{
    private readonly ConcurrentDictionary<IPAddress, Window> _windows = new();
    private long _lastSweepMinute;

    /// <summary>Takes a lookup of this key from the address's budget; false when the budget is spent for this minute.</summary>
    public bool TryBegin(IPAddress? address, ApiKeyDigest key)
    {
        var window = WindowOf(address);
        lock (window)
        {
            if (window.InFlight.TryGetValue(key, out var waiting))
            {
                window.InFlight[key] = waiting + 1;
                return true;
            }
            if (window.Failed + window.InFlight.Count >= options.Value.FailedLookupsPerMinute) return false;
            window.InFlight[key] = 1;
            return true;
        }
    }

    /// <summary>Ends a lookup begun with <see cref="TryBegin"/>; a key that was not found stays spent for the minute.</summary>
    public void End(IPAddress? address, ApiKeyDigest key, bool failed)
    {
        var window = WindowOf(address);
        lock (window)
        {
            if (!window.InFlight.TryGetValue(key, out var waiting)) return; // the window was swept meanwhile
            if (waiting > 1)
            {
                window.InFlight[key] = waiting - 1;
                return;
            }
            window.InFlight.Remove(key);
            if (failed) window.Failed++;
        }
    }

    private Window WindowOf(IPAddress? address)
    {
        var minute = time.GetUtcNow().ToUnixTimeSeconds() / 60;
        SweepOnceAMinute(minute);
        var window = _windows.GetOrAdd(address ?? IPAddress.None, static (_, m) => new Window(m), minute);
        if (Volatile.Read(ref window.Minute) != minute)
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
            lock (window)
            {
                if (window.Minute < minute - 1 && window.InFlight.Count == 0) _windows.TryRemove(KeyValuePair.Create(address, window));
            }
        }
    }

    private sealed class Window(long minute)
    {
        public long Minute = minute;
        public int Failed;
        public readonly Dictionary<ApiKeyDigest, int> InFlight = [];
    }
}
