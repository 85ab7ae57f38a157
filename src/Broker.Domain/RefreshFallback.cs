namespace Broker.Domain;

/// <summary>What follows a refresh the upstream did not grant (<see cref="TokenPolicy.AfterRefreshFailed"/>).</summary>
public enum RefreshFallback
{
    /// <summary>Log in instead: only ever for an account that can log in by itself.</summary>
    LogIn,

    /// <summary>The refresh token is dead and nothing else renews the account: a person must act.</summary>
    ReconnectRequired,

    /// <summary>Give up for now and say why; the refresh token is kept and tried again next time.</summary>
    Fail,
}

/// <summary>The first upstream step of a renewal (<see cref="TokenPolicy.FirstStep"/>).</summary>
public enum RenewalStep
{
    Refresh,

    /// <summary>Only ever for an account that can log in by itself.</summary>
    LogIn,

    /// <summary>Neither a refresh nor a login is possible: the account needs an admin or a person.</summary>
    None,
}
