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

    /// <summary>The per-address buckets (<see cref="TokenBuckets{TKey}"/>), IPv6 addresses by network.</summary>
    public sealed class Limiter(IOptions<RateLimitOptions> options)
    {
        private readonly TokenBuckets<IPAddress> _buckets = new(options.Value.PerAddressPerSecond, options.Value.PerAddressBurst);
        private readonly int _ipv6PrefixLength = options.Value.PerAddressIPv6PrefixLength;

        public bool TryTake(IPAddress address) => _buckets.TryTake(Group(address, _ipv6PrefixLength));

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
    }
}
