namespace Broker.Domain;

/// <summary>
/// When to refresh a token before anyone needs it: once <c>refreshAt</c> of its lifetime has passed, made
/// earlier by up to <c>jitter</c> of the lifetime (a fixed share per account, so accounts that logged in
/// together do not all refresh in the same second); or when the refresh token itself is about to lapse.
/// </summary>
public static class AheadOfTime
{
    public static bool IsDue(
        DateTimeOffset? obtainedAt,
        DateTimeOffset? accessExpiresAt,
        DateTimeOffset? refreshExpiresAt,
        DateTimeOffset now,
        double refreshAt,
        double jitter,
        double accountShare,
        TimeSpan refreshTokenMargin)
    {
        if (refreshExpiresAt is { } refreshExpiry && refreshExpiry - now < refreshTokenMargin) return true;
        if (obtainedAt is not { } obtained || accessExpiresAt is not { } expires || expires <= obtained) return accessExpiresAt is null;
        var lifetime = expires - obtained;
        var trigger = obtained + lifetime * Math.Clamp(refreshAt - jitter * Math.Clamp(accountShare, 0, 1), 0, 1);
        return now >= trigger;
    }

    /// <summary>A stable share in [0, 1) for an account, from its id.</summary>
    public static double ShareOf(Guid accountId) => (accountId.GetHashCode() & 0x7fffffff) / (double)int.MaxValue;
}
