namespace Broker.Domain;

/// <summary>The events a webhook can subscribe to: each means a person may have to act on an account.</summary>
public static class WebhookEvents
{
    /// <summary>The upstream rejected the credentials, or a secret the dialect needs is missing.</summary>
    public const string NeedsAttention = "account.needs_attention";

    /// <summary>The upstream says the user is inactive.</summary>
    public const string Inactive = "account.inactive";

    /// <summary>Back to active from needs_attention or inactive (an admin's change, or a test that logged in).</summary>
    public const string Recovered = "account.recovered";

    /// <summary>The refresh token lapses soon and the broker cannot log the account in again by itself.</summary>
    public const string RefreshTokenExpiring = "account.refresh_token_expiring";

    public static readonly IReadOnlyList<string> All = [NeedsAttention, Inactive, Recovered, RefreshTokenExpiring];

    /// <summary>The event a change of an account's state makes, if any.</summary>
    public static string? ForStateChange(AccountState from, AccountState to) => (from, to) switch
    {
        _ when from == to => null,
        (_, AccountState.NeedsAttention) => NeedsAttention,
        (_, AccountState.Inactive) => Inactive,
        (AccountState.NeedsAttention or AccountState.Inactive, AccountState.Active) => Recovered,
        _ => null,
    };
}
