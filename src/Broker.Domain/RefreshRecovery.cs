namespace Broker.Domain;

/// <summary>What to do, holding an account's lock, about a refresh that was begun and never answered.</summary>
public enum RecoveryStep
{
    /// <summary>No refresh with the stored token was interrupted: refresh as usual.</summary>
    Refresh,

    /// <summary>The upstream still accepts the token it may have rotated (its reuse grace): send it again.</summary>
    RetryWithinGrace,

    /// <summary>The token may be spent and nothing says the upstream takes it again; the account logs in instead.</summary>
    LogIn,

    /// <summary>The same, for an account that cannot log in by itself: a person must consent again.</summary>
    ReconnectRequired,
}

/// <summary>
/// The decision after a lost refresh answer (docs/architecture.md, "Crash safety"). Sending a spent refresh token
/// outside the provider's reuse grace is what real servers read as token theft (they revoke the whole chain), so it
/// is sent again only while the provider has said it accepts it.
/// </summary>
public static class RefreshRecovery
{
    /// <param name="attempt">The unfinished attempt found under the lock, if any.</param>
    /// <param name="storedTokenSha256">Hash of the refresh token stored now.</param>
    /// <param name="reuseGrace">How long the provider accepts a rotated refresh token again; null: not at all.</param>
    /// <param name="canLogIn">Whether the account can log in by itself (<see cref="CredentialRules.CanLogIn"/>).</param>
    public static RecoveryStep Decide(RefreshAttempt? attempt, string storedTokenSha256, TimeSpan? reuseGrace, bool canLogIn, DateTimeOffset now)
    {
        // An attempt with another token is history: the token it sent has been replaced since.
        if (attempt is null || !string.Equals(attempt.TokenSha256, storedTokenSha256, StringComparison.Ordinal)) return RecoveryStep.Refresh;
        if (reuseGrace is { } grace && now < attempt.StartedAt + grace) return RecoveryStep.RetryWithinGrace;
        return canLogIn ? RecoveryStep.LogIn : RecoveryStep.ReconnectRequired;
    }
}
