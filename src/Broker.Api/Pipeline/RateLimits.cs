using System.Threading.RateLimiting;
using Broker.Api.Auth;
using Broker.Api.Errors;

namespace Broker.Api.Pipeline;

/// <summary>
/// Per-client rate limits (ASP.NET Core's built-in limiter), after authentication: one runaway service cannot starve
/// the rest. What comes before authentication is limited per address (<see cref="AddressRateLimit"/>); unknown keys
/// cost no lookup of their own (<see cref="Broker.Infrastructure.Persistence.ChangeFeed.CatchUpAsync"/>).
/// </summary>
public static class RateLimits
{
    public const string PerClient = "per-client";

    public static IServiceCollection AddBrokerRateLimits(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<AddressRateLimit.Limiter>();
        var options = configuration.GetSection(RateLimitOptions.Section).Get<RateLimitOptions>() ?? new();
        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.AddPolicy(PerClient, http => RateLimitPartition.GetTokenBucketLimiter(
                http.Client()?.Name ?? http.Connection.RemoteIpAddress?.ToString() ?? "anonymous",
                _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = options.Burst,
                    TokensPerPeriod = options.PerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                }));
            limiter.OnRejected = async (context, ct) =>
            {
                context.HttpContext.Response.Headers.RetryAfter = "1";
                await Problems.Create(StatusCodes.Status429TooManyRequests, Problems.RateLimited, "Too many requests from this client.")
                    .ExecuteAsync(context.HttpContext);
            };
        });
        return services;
    }
}

public sealed class RateLimitOptions
{
    public const string Section = "Broker:RateLimits";

    /// <summary>Sustained requests per second per client.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, int.MaxValue)]
    public int PerSecond { get; set; } = 10_000;

    /// <summary>Requests a client may send at once above the sustained rate.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, int.MaxValue)]
    public int Burst { get; set; } = 20_000;

    /// <summary>Sustained requests per second per remote address, counted before authentication (every path).</summary>
    [System.ComponentModel.DataAnnotations.Range(1, int.MaxValue)]
    public int PerAddressPerSecond { get; set; } = 20_000;

    /// <summary>Requests an address may send at once above its sustained rate.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, int.MaxValue)]
    public int PerAddressBurst { get; set; } = 40_000;

    /// <summary>
    /// How many leading bits of an IPv6 address make one "address" for the per-address limit: 64 (the default) counts
    /// a /64, what one host or home is commonly given; 128 counts each address alone.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(32, 128)]
    public int PerAddressIPv6PrefixLength { get; set; } = 64;
}
