using System.Net;
using System.Threading.RateLimiting;
using Broker.Api.Audit;
using Microsoft.Extensions.Options;

namespace Broker.Api.Infrastructure;

/// <summary>
/// The per-address limit, for every request, before authentication: what an unauthenticated caller can make the
/// broker do (hash a key, look it up, count a refusal) is bounded before it happens. The per-client limit runs after
/// authentication (<see cref="RateLimits"/>). The address is the connection's, or the one a configured proxy
/// forwarded (<see cref="ForwardedHeadersSetup"/>).
/// </summary>
public sealed class AddressRateLimit(RequestDelegate next, AddressRateLimit.Limiter limiter)
{
    public async Task InvokeAsync(HttpContext http)
    {
        using var lease = limiter.Buckets.AttemptAcquire(http.Connection.RemoteIpAddress ?? IPAddress.None);
        if (!lease.IsAcquired)
        {
            RejectionAudit.SetReason(http, "per-address limit");
            http.Response.Headers.RetryAfter = "1";
            await Problems.Create(StatusCodes.Status429TooManyRequests, Problems.RateLimited, "Too many requests from this address.")
                .ExecuteAsync(http);
            return;
        }
        await next(http);
    }

    /// <summary>The token buckets, one per address, owned by the container so they are disposed with the host.</summary>
    public sealed class Limiter(IOptions<RateLimitOptions> options) : IDisposable
    {
        public PartitionedRateLimiter<IPAddress> Buckets { get; } = PartitionedRateLimiter.Create<IPAddress, IPAddress>(address =>
            RateLimitPartition.GetTokenBucketLimiter(address, _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = options.Value.PerAddressBurst,
                TokensPerPeriod = options.Value.PerAddressPerSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            }));

        public void Dispose() => Buckets.Dispose();
    }
}
