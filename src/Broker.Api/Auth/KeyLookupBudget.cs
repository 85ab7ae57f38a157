using System.Collections.Concurrent;
using System.Net;
using Broker.Api.Hosting;
using Broker.Api.OpenApi;
using Broker.Api.Pipeline;
using Broker.Infrastructure.Security;
using Microsoft.Extensions.Options;

namespace Broker.Api.Auth;

/// <summary>
/// How many distinct keys an address may have looked up in the database without success: at most
/// <see cref="RateLimitOptions.FailedLookupsPerMinute"/> per address and minute. Past it, a key from that address
/// that is not already cached is answered 429 without a lookup, so a flood of made-up keys costs the database a
/// handful of queries, while keys already known keep being served from the cache.
/// </summary>
/// <remarks>
/// The budget is a number of slots: a lookup takes one, gives it back when the key was found (or the database could
/// not answer), and keeps it until the minute ends when the key was unknown. So failed lookups and lookups under way
/// never exceed the budget, even for a burst of bad keys sent all at once; more lookups wait for a slot (a cold
/// instance behind a NAT, asked for many valid keys at once, looks them up a few at a time instead of refusing
/// them). A request for a key whose lookup is under way joins it at no cost: one service sending a thousand requests
/// with its key to a cold instance spends one lookup.
/// </remarks>
public sealed class KeyLookupBudget(TimeProvider time, IOptions<RateLimitOptions> options)
{
    /// <summary>How long a request waits for one of its address's lookups to end before it is refused.</summary>
    private static readonly TimeSpan LongestWait = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    private readonly ConcurrentDictionary<IPAddress, Window> _windows = new();
    private long _lastSweepMinute;

    /// <summary>
    /// Takes a lookup of this key from the address's budget, waiting while the address's lookups are all busy.
    /// False when the budget is spent for this minute (or no lookup ended in time).
    /// </summary>
    public async ValueTask<bool> BeginAsync(IPAddress? address, ApiKeyDigest key, CancellationToken ct)
    {
        var window = WindowOf(address);
        var started = Environment.TickCount64;
        while (true)
        {
            if (Join(window, key) is { } joined) return joined;
            // A short wait at a time: a lookup of the same key may start meanwhile, or the budget run out.
            if (await window.Lookups.WaitAsync(PollInterval, ct)) break;
            if (Environment.TickCount64 - started > LongestWait.TotalMilliseconds) return false;
        }
        bool? admitted;
        lock (window)
        {
            admitted = Join(window, key);
            if (admitted is null) window.InFlight[key] = 1; // ours: the slot goes back when its last request ends
        }
        if (admitted is not null) window.Lookups.Release(); // someone else's lookup of the key, or no budget left
        return admitted ?? true;
    }

    /// <summary>
    /// Ends a lookup begun with <see cref="BeginAsync"/>. A key that was not found keeps its slot until the minute
    /// ends: failed lookups and lookups under way together never exceed the budget.
    /// </summary>
    public void End(IPAddress? address, ApiKeyDigest key, bool failed)
    {
        var window = WindowOf(address);
        lock (window)
        {
            if (!window.InFlight.TryGetValue(key, out var waiting)) return;
            if (waiting > 1)
            {
                window.InFlight[key] = waiting - 1;
                return;
            }
            window.InFlight.Remove(key);
            if (failed)
            {
                window.Failed++;
                return;
            }
        }
        window.Lookups.Release();
    }

    /// <summary>True when the key's lookup is under way (this request joins it), false when the budget is spent, else null.</summary>
    private bool? Join(Window window, ApiKeyDigest key)
    {
        lock (window)
        {
            if (window.InFlight.TryGetValue(key, out var waiting))
            {
                window.InFlight[key] = waiting + 1;
                return true;
            }
            return window.Failed >= options.Value.FailedLookupsPerMinute ? false : null;
        }
    }

    private Window WindowOf(IPAddress? address)
    {
        var minute = time.GetUtcNow().ToUnixTimeSeconds() / 60;
        SweepOnceAMinute(minute);
        var window = _windows.GetOrAdd(address ?? IPAddress.None, static (_, state) => new Window(state.minute, state.slots),
            (minute, slots: options.Value.FailedLookupsPerMinute));
        lock (window)
        {
            if (window.Minute != minute)
            {
                // A new minute: the slots the failed lookups kept come back.
                if (window.Failed > 0) window.Lookups.Release(window.Failed);
                window.Minute = minute;
                window.Failed = 0;
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

    private sealed class Window(long minute, int slots)
    {
        public long Minute = minute;
        public int Failed;
        public readonly Dictionary<ApiKeyDigest, int> InFlight = [];
        public readonly SemaphoreSlim Lookups = new(slots, slots);
    }
}
