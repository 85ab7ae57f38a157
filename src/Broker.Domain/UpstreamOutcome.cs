namespace Broker.Domain;

/// <summary>
/// Every answer of every dialect maps onto one of these, so nothing past the dialect clients parses upstream JSON.
/// <see cref="Status"/> is the upstream HTTP status when there was one; <see cref="Detail"/> is safe to show
/// and to store (never a token or a secret).
/// </summary>
public abstract record UpstreamOutcome(int? Status, string Detail)
{
    public sealed record Granted(TokenSet Tokens, int? Status = 200) : UpstreamOutcome(Status, "granted");

    /// <summary>The upstream refused the username, password, organisation or client credentials.</summary>
    public sealed record CredentialsRejected(int? Status, string Detail) : UpstreamOutcome(Status, Detail);

    /// <summary>The refresh token was used, expired or revoked: log in instead.</summary>
    public sealed record RefreshRejected(int? Status, string Detail) : UpstreamOutcome(Status, Detail);

    /// <summary>The credentials are right but the account may no longer get tokens (SlideRule's {"active":false}).</summary>
    public sealed record AccountInactive(int? Status, string Detail) : UpstreamOutcome(Status, Detail);

    /// <summary>5xx, 429, connection refused or a timeout: try again later.</summary>
    public sealed record Unavailable(int? Status, string Detail, bool TimedOut = false, TimeSpan? RetryAfter = null)
        : UpstreamOutcome(Status, Detail);

    /// <summary>An answer we cannot read (unexpected status or body).</summary>
    public sealed record ProtocolError(int? Status, string Detail) : UpstreamOutcome(Status, Detail);

    /// <summary>
    /// The upstream answered 404 or 405 at the URL the broker called: in every dialect that means the provider's
    /// URL is wrong (a typo in the path), which no retry and no credential change fixes. <see cref="Detail"/> names the URL.
    /// </summary>
    public sealed record EndpointNotFound(int? Status, string Detail) : UpstreamOutcome(Status, Detail);

    /// <summary>
    /// Nothing was sent: the upstream's address, or its plain-http URL, is one the broker may not call
    /// (Broker:Upstream:AllowedNetworks, Broker:Upstream:AllowPlainHttp). A configuration problem, not an outage:
    /// neither retried nor counted by the circuit breaker.
    /// </summary>
    public sealed record DestinationRefused(string Detail) : UpstreamOutcome(null, Detail);

    public string Kind => this switch
    {
        Granted => "granted",
        CredentialsRejected => "credentials_rejected",
        RefreshRejected => "refresh_rejected",
        AccountInactive => "account_inactive",
        Unavailable { TimedOut: true } => "timeout",
        Unavailable => "unavailable",
        ProtocolError => "protocol_error",
        EndpointNotFound => "endpoint_not_found",
        DestinationRefused => "destination_refused",
        _ => "unknown",
    };
}
