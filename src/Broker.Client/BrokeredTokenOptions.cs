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

    /// <summary>This service's API key for the broker (a consumer client's key). Required; never logged.</summary>
    public string? ClientKey { get; set; }

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
