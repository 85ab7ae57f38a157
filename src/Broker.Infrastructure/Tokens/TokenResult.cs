using Broker.Domain;

namespace Broker.Infrastructure.Tokens;

/// <summary>What a fetch gives the caller: a token, or a failure the API turns into a problem response.</summary>
public abstract record TokenResult
{
    /// <param name="TokenHmac">The audit trail's keyed hash of <paramref name="AccessToken"/>, computed once per token.</param>
    public sealed record Served(Guid AccountId, string ProviderName, string AccessToken, string TokenType, DateTimeOffset ExpiresAt, string TokenHmac,
        bool FromCache) : TokenResult
    {
        public override string ToString() => $"Served {{ AccountId = {AccountId}, ExpiresAt = {ExpiresAt:O}, FromCache = {FromCache} }}";
    }

    public sealed record NotFound : TokenResult;

    /// <summary>
    /// An ahead-of-time refresh found the account's row locked: whoever holds it (another instance, a caller's miss)
    /// is renewing it, and the next pass sees what it stored. Never an answer to a caller.
    /// </summary>
    public sealed record Skipped : TokenResult;

    public sealed record Failed(Guid AccountId, string ProviderName, TokenFailure Failure, string Detail, TimeSpan? RetryAfter = null) : TokenResult
    {
        /// <summary>With <see cref="TokenFailure.NeedsAttention"/>: why, so a consumer is told what kind of help the account needs.</summary>
        public AttentionReason? Attention { get; init; }
    }
}

public enum TokenFailure
{
    /// <summary>The account needs a person (<see cref="TokenResult.Failed.Attention"/> says why): credentials rejected or missing, or a dead refresh token.</summary>
    NeedsAttention,

    /// <summary>The upstream says the account is no longer active.</summary>
    Inactive,

    UpstreamUnavailable,
    UpstreamTimeout,

    /// <summary>The upstream answered something the dialect cannot read.</summary>
    UpstreamProtocolError,

    /// <summary>The upstream answered 404/405 at the provider's URL: an admin must correct the provider's token_url or refresh_url.</summary>
    UpstreamEndpointNotFound,

    /// <summary>
    /// The provider's URL or resolved address is one the broker may not call (Broker:Upstream:AllowedNetworks,
    /// Broker:Upstream:AllowPlainHttp): nothing was sent; an admin must change the provider or the configuration.
    /// </summary>
    UpstreamDestinationRefused,

    /// <summary>
    /// The account (oauth2-authorization-code) holds no token the broker can renew and the broker cannot log it in:
    /// a person must connect it in a browser (POST /admin/accounts/{name}/connect).
    /// </summary>
    NotConnected,

    /// <summary>PostgreSQL is unreachable or the row lock was not granted in time.</summary>
    DatabaseUnavailable,
}

public static class TokenFailureNames
{
    /// <summary>The failure's name in answers, audit outcomes and traces: needs_attention, upstream_timeout, …</summary>
    public static string ToName(this TokenFailure failure) => failure switch
    {
        TokenFailure.NeedsAttention => "needs_attention",
        TokenFailure.Inactive => "inactive",
        TokenFailure.UpstreamUnavailable => "upstream_unavailable",
        TokenFailure.UpstreamTimeout => "upstream_timeout",
        TokenFailure.UpstreamProtocolError => "upstream_protocol_error",
        TokenFailure.UpstreamDestinationRefused => "upstream_destination_refused",
        TokenFailure.UpstreamEndpointNotFound => "upstream_endpoint_not_found",
        TokenFailure.NotConnected => "not_connected",
        TokenFailure.DatabaseUnavailable => "database_unavailable",
        _ => throw new ArgumentOutOfRangeException(nameof(failure), failure, null),
    };
}
