using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Broker.Api.Audit.Recording;
using Broker.Api.Errors;
using Microsoft.Extensions.Options;

namespace Broker.Api.Pipeline;

/// <summary>
/// The per-address limit, for every request, before authentication: what an unauthenticated caller can make the
/// broker do (hash a key, look it up, count a refusal) is bounded before it happens. The per-client limit runs after
/// authentication (<see cref="RateLimits"/>). The address is the connection's, or the one a configured proxy
/// forwarded (<see cref="ForwardedHeadersSetup"/>); IPv6 addresses count by their network (<see cref="Limiter.Group"/>).
/// </summary>
public sealed class AddressRateLimit(RequestDelegate next, AddressRateLimit.Limiter limiter)
{
    public async Task InvokeAsync(HttpContext http)
    {
        if (!limiter.TryTake(http.Connection.RemoteIpAddress ?? IPAddress.None))
        {
            RejectionAudit.SetReason(http, "per-address limit");
            http.Response.Headers.RetryAfter = "1";
            await Problems.Create(StatusCodes.Status429TooManyRequests, Problems.RateLimited, "Too many requests from this address.")
                .ExecuteAsync(http);
            return;
        }
        await next(http);
    }

    /// <summary>
    /// One token bucket per address, as the generic cell rate algorithm: a bucket is a single number (the time at
    /// which it would be full again), moved with compare-and-swap. Every request passes here, and all of one
    /// caller's requests share one bucket, so no lock may be taken (System.Threading.RateLimiting's partitioned
    /// limiter takes two per request). Time is the monotonic high-resolution clock: this is about real rates.
    /// </summary>
    public sealed class Limiter(IOptions<RateLimitOptions> options)
    {
        private readonly ConcurrentDictionary<IPAddress, Bucket> _buckets = new();
        private readonly long _interval = Math.Max(1, Stopwatch.Frequency / Math.Max(1, options.Value.PerAddressPerSecond));
        private readonly long _burst = Math.Max(1, Stopwatch.Frequency / Math.Max(1, options.Value.PerAddressPerSecond)) *
                                       Math.Max(0, options.Value.PerAddressBurst - 1);
        private readonly int _ipv6PrefixLength = options.Value.PerAddressIPv6PrefixLength;
        private long _nextSweep = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 60;

        public bool TryTake(IPAddress address)
        {
            var now = Stopwatch.GetTimestamp();
            SweepIdleOnceAMinute(now);
            var bucket = _buckets.GetOrAdd(Group(address, _ipv6PrefixLength), static _ => new Bucket());
            while (true)
            {
                var full = Volatile.Read(ref bucket.FullAt);
                var from = Math.Max(full, now);
                if (from - now > _burst) return false;
                if (Interlocked.CompareExchange(ref bucket.FullAt, from + _interval, full) == full) return true;
            }
        }

        /// <summary>
        /// The address a bucket is kept for: an IPv4 address (or one mapped into IPv6) as it is; an IPv6 address cut to
        /// its first <paramref name="ipv6PrefixLength"/> bits. A single host is commonly given a whole /64 and picks any
        /// address in it, so counting exact IPv6 addresses would give it 2^64 buckets.
        /// </summary>
        public static IPAddress Group(IPAddress address, int ipv6PrefixLength)
        {
            if (address.IsIPv4MappedToIPv6) return address.MapToIPv4();
            if (address.AddressFamily != AddressFamily.InterNetworkV6 || ipv6PrefixLength >= 128) return address;
            Span<byte> bytes = stackalloc byte[16];
            address.TryWriteBytes(bytes, out _);
            for (var bit = ipv6PrefixLength; bit < 128; bit++) bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
            return new IPAddress(bytes); // the scope id goes too: it names an interface of ours, not the caller
        }

        /// <summary>Buckets that are full again are forgotten: memory grows with the addresses of the last minute only.</summary>
        private void SweepIdleOnceAMinute(long now)
        {
            var next = Volatile.Read(ref _nextSweep);
            if (now < next || Interlocked.CompareExchange(ref _nextSweep, now + Stopwatch.Frequency * 60, next) != next) return;
            foreach (var (address, bucket) in _buckets)
            {
                if (Volatile.Read(ref bucket.FullAt) < now) _buckets.TryRemove(KeyValuePair.Create(address, bucket));
            }
        }

        private sealed class Bucket
        {
            public long FullAt;
        }
    }
}
