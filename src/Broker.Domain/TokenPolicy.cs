namespace Broker.Domain;

/// <summary>The pure decisions of the token algorithm (docs/architecture.md, "Handing out a token").</summary>
public static class TokenPolicy
{
    /// <summary>
    /// An access token is usable when it stays valid for <paramref name="minValidity"/> past now, plus a
    /// <paramref name="clockSkew"/> margin because the upstream's clock is not ours.
    /// </summary>
    public static bool IsUsable(DateTimeOffset? expiresAt, DateTimeOffset now, TimeSpan minValidity, TimeSpan clockSkew) =>
        expiresAt is { } at && at - now >= minValidity + clockSkew;

    /// <summary>A refresh token is worth trying while its own expiry (when known) is ahead of us.</summary>
    public static bool CanRefresh(StoredTokenState stored, DateTimeOffset now, TimeSpan clockSkew) =>
        stored.Dialect.CanRefresh() && stored.HasRefreshToken &&
        (stored.RefreshExpiresAt is not { } at || at - now > clockSkew);

    /// <summary>
    /// A token that was just obtained is the best the upstream gives, even when its lifetime is shorter than the
    /// caller asked for: serving it stops a caller with a large min_validity from causing a refresh per request.
    /// </summary>
    public static bool IsBestAvailable(DateTimeOffset? obtainedAt, DateTimeOffset? expiresAt, DateTimeOffset now, TimeSpan freshWindow) =>
        obtainedAt is { } obtained && expiresAt is { } expires && now - obtained < freshWindow && expires > now;

    /// <summary>
    /// A stored token serves a request asking for <paramref name="minValidity"/> when it is usable for that long, or
    /// when it is the best available (obtained within <paramref name="freshWindow"/> and not yet expired).
    /// </summary>
    public static bool Serves(DateTimeOffset? expiresAt, DateTimeOffset? obtainedAt, DateTimeOffset now, TimeSpan minValidity,
        TimeSpan clockSkew, TimeSpan freshWindow) =>
        IsUsable(expiresAt, now, minValidity, clockSkew) || IsBestAvailable(obtainedAt, expiresAt, now, freshWindow);

    /// <summary>
    /// After a refresh the upstream did not grant. A refused refresh token is dead: an account that can log in does,
    /// one that cannot needs a person. An unavailable upstream may have spent the token midway, so an account that
    /// can log in never replays it; one that cannot keeps it (it is all it has) and tries again later. Anything else
    /// says the answer was unreadable or the call not allowed: nothing to fall back on.
    /// </summary>
    public static RefreshFallback AfterRefreshFailed(UpstreamOutcome outcome, bool canLogIn) => outcome switch
    {
        UpstreamOutcome.Granted => throw new ArgumentException("a granted refresh needs no fallback", nameof(outcome)),
        UpstreamOutcome.RefreshRejected => canLogIn ? RefreshFallback.LogIn : RefreshFallback.ReconnectRequired,
        UpstreamOutcome.Unavailable => canLogIn ? RefreshFallback.LogIn : RefreshFallback.Fail,
        _ => RefreshFallback.Fail,
    };

    /// <summary>
    /// A resent refresh token's answer, dated from the first attempt (begun at <paramref name="firstStarted"/>; the
    /// resend was sent at <paramref name="resentAt"/>): an upstream within its reuse grace may return the tokens it
    /// issued then, with an expires_in counted as if new. Unless the token's own expiry is known
    /// (<paramref name="jwtExpiry"/>), its lifetime counts from the first attempt. Never later than the answer says.
    /// </summary>
    public static TokenSet DatedFromFirstAttempt(TokenSet answer, DateTimeOffset? jwtExpiry, DateTimeOffset firstStarted, DateTimeOffset resentAt)
    {
        if (jwtExpiry is { } exp) return exp < answer.AccessExpiresAt ? answer with { AccessExpiresAt = exp } : answer;
        var lost = resentAt - firstStarted;
        return lost <= TimeSpan.Zero ? answer : answer with
        {
            AccessExpiresAt = answer.AccessExpiresAt - lost,
            RefreshExpiresAt = answer.RefreshExpiresAt - lost,
        };
    }

    /// <summary>
    /// The first upstream step of a renewal: refresh while the refresh token lives, unless a login is asked for
    /// (an admin's test) and the account can log in; log in when it can; otherwise nothing can renew it.
    /// </summary>
    public static RenewalStep FirstStep(bool canLogIn, bool canRefresh, bool preferLogin) =>
        canRefresh && (!preferLogin || !canLogIn) ? RenewalStep.Refresh
        : canLogIn ? RenewalStep.LogIn
        : RenewalStep.None;

    /// <summary>
    /// The validity one in-flight renewal asks for: the caller's, rounded up to one of a few steps, so that callers
    /// asking for 61, 62, 63 … seconds share one flight (each still gets at least what it asked for) instead of
    /// splitting it into one per value.
    /// </summary>
    public static TimeSpan FlightMinValidity(TimeSpan asked)
    {
        foreach (var step in FlightSteps)
        {
            if (asked <= step) return step;
        }
        return TimeSpan.FromMinutes(Math.Ceiling(asked.TotalMinutes / 30) * 30); // beyond the last step, half hours
    }

    // Each step at most 1.5 times the one before: rounding up never asks for much more than the caller did (asking
    // for more than a token's lifetime would force a renewal on every miss).
    private static readonly TimeSpan[] FlightSteps =
        [.. new[] { 0, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 450, 600, 900, 1200, 1800, 2400, 3600 }.Select(s => TimeSpan.FromSeconds(s))];
}

/// <summary>What the decisions need to know of an account's stored token set (no secrets).</summary>
public readonly record struct StoredTokenState(
    Dialect Dialect,
    bool HasRefreshToken,
    DateTimeOffset? RefreshExpiresAt);
