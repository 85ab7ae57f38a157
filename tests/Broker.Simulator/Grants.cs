namespace Broker.Simulator;

// What the simulator remembers about the tokens it issued and the checks it hands to the endpoints.
// Tokens are looked up by their exact string, so a garbled or foreign token is simply unknown.

internal sealed record UserInfo(string Username, int UserId, string? OrgName);

internal sealed record AccessGrant(Dialect Dialect, string Username, DateTimeOffset ExpiresAt);

internal sealed record RefreshGrant(Dialect Dialect, string Username, DateTimeOffset ExpiresAt)
{
    /// <summary>SlideRule: the organization the token was issued for.</summary>
    public string? OrgName { get; init; }

    /// <summary>OAuth2: the client the token belongs to; another client may not use it.</summary>
    public string? ClientId { get; init; }

    /// <summary>OAuth2: the scope granted at login, carried over to every refresh.</summary>
    public string? Scope { get; init; }

    /// <summary>Keycloak: the session the token belongs to, kept across refreshes.</summary>
    public string? SessionState { get; init; }
}

internal enum LoginStatus { Ok, Rejected, Inactive }

internal readonly record struct LoginCheck(LoginStatus Status, UserInfo? User);

internal enum RefreshStatus
{
    Ok,
    /// <summary>Unknown, garbled, expired, issued by another dialect or to another client.</summary>
    Invalid,
    /// <summary>Already spent by an earlier refresh.</summary>
    Reused,
    Inactive,
    /// <summary>SlideRule: the user has moved to another organization since the token was issued.</summary>
    NotMember,
}

/// <param name="WithinGrace">An already spent token accepted again within <see cref="SimulatorState.RefreshReuseGrace"/>.</param>
internal readonly record struct RefreshCheck(RefreshStatus Status, RefreshGrant? Grant = null, UserInfo? User = null, bool WithinGrace = false);

internal enum ClientCheck { Rejected, Confidential, Public }
