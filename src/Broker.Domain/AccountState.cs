namespace Broker.Domain;

public enum AccountState
{
    /// <summary>Tokens are served, logging in and refreshing as needed.</summary>
    Active,

    /// <summary>The upstream rejected the credentials: no login is attempted until an admin updates them.</summary>
    NeedsAttention,

    /// <summary>The upstream says the account is no longer active (SlideRule {"active":false}).</summary>
    Inactive,
}

public static class AccountStateNames
{
    public static string ToName(this AccountState state) => state switch
    {
        AccountState.Active => "active",
        AccountState.NeedsAttention => "needs_attention",
        AccountState.Inactive => "inactive",
        _ => throw new ArgumentOutOfRangeException(nameof(state)),
    };

    public static AccountState Parse(string name) => name switch
    {
        "active" => AccountState.Active,
        "needs_attention" => AccountState.NeedsAttention,
        "inactive" => AccountState.Inactive,
        _ => throw new ArgumentException($"Unknown account state '{name}'.", nameof(name)),
    };
}
