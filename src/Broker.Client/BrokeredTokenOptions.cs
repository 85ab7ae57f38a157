namespace Broker.Client;

/// <summary>
/// Where to get tokens for one upstream account, and how fresh they must be. Named after the account: settings
/// given to <see cref="BrokerClientExtensions.AddBrokerTokenClient"/> apply to every account, those given to
/// <see cref="BrokerClientExtensions.AddBrokeredToken"/> to that account only (and win).
/// </summary>
public sealed class BrokeredTokenOptions
{
    /// <summary>The broker's base address, e.g. <c>https://broker.internal/</c>. Required.</summary>
    public Uri? BrokerUrl { get; set; }

    /// <summary>
    /// This service's API key for the broker (a consumer client's key); never logged. Set either this or
    /// <see cref="IdentityTokenFile"/>.
    /// </summary>
    public string? ClientKey { get; set; }

    /// <summary>
    /// The path of a file holding this service's workload identity token (a JWT: a Kubernetes projected
    /// service-account token, a GitHub Actions OIDC token, a SPIFFE JWT-SVID), e.g.
    /// <c>/var/run/secrets/broker/token</c>, sent instead of a key. An admin must have trusted its issuer and bound
    /// its identity to a client. Set either this or <see cref="ClientKey"/>. The file is read again when it changes
    /// (checked every <see cref="IdentityTokenRecheck"/>) and whenever the broker refuses the token it holds; its
    /// content is never logged.
    /// </summary>
    public string? IdentityTokenFile { get; set; }

    /// <summary>
    /// How often <see cref="IdentityTokenFile"/> is checked for a new token (its last-write time and length; the
    /// content is read only when they changed). Default 30 seconds; 0 checks on every request to the broker;
    /// at most 10 minutes, the lifetime of the shortest-lived projected Kubernetes token.
    /// </summary>
    public TimeSpan IdentityTokenRecheck { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a token must still be valid when the broker hands it out (the broker's <c>min_validity</c>).
    /// Default 60 seconds; at most 24 hours, the broker's default ceiling.
    /// </summary>
    public TimeSpan MinValidity { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long before its expiry a cached token stops being used and the broker is asked again. Default
    /// 30 seconds; at most <see cref="MinValidity"/>, so a token just fetched can always be cached a while.
    /// </summary>
    public TimeSpan RenewBefore { get; set; } = TimeSpan.FromSeconds(30);
}
