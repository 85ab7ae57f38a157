using System.Text.Json;
using Broker.Domain;

namespace Broker.Infrastructure.Upstream.Dialects;

/// <summary>
/// When granted tokens stop working (docs/providers.md, "Expiry when the upstream does not say"): what the answer says, else the token's own JWT
/// <c>exp</c>, else the provider's configured default.
/// </summary>
internal static class TokenExpiry
{
    // Anything beyond a century is a mistake upstream, and would overflow DateTimeOffset arithmetic besides.
    private const double MaxSeconds = 100 * 365.25 * 24 * 3600;

    public static DateTimeOffset Access(JsonElement answer, string accessToken, DateTimeOffset now, ProviderEndpoint provider) =>
        Plausible(now, UpstreamJson.ReadTimestamp(answer, "exp"))
        ?? After(now, UpstreamJson.ReadSeconds(answer, "expires_in"))
        ?? After(now, UpstreamJson.ReadSeconds(answer, "access_lifetime"))
        ?? Plausible(now, Jwt.TryReadExpiry(accessToken))
        ?? now + provider.DefaultAccessLifetime;

    /// <summary>The refresh token's expiry; null means it does not expire as far as we know.</summary>
    public static DateTimeOffset? Refresh(JsonElement answer, string refreshToken, DateTimeOffset now, ProviderEndpoint provider)
    {
        foreach (var field in (ReadOnlySpan<string>)["refresh_lifetime", "refresh_expires_in"])
        {
            var seconds = UpstreamJson.ReadSeconds(answer, field);
            // Keycloak answers refresh_expires_in: 0 for offline tokens, which do not expire.
            if (seconds == 0) return null;
            if (After(now, seconds) is { } at) return at;
        }
        return Plausible(now, Jwt.TryReadExpiry(refreshToken))
               ?? (provider.DefaultRefreshLifetime is { } lifetime ? now + lifetime : null);
    }

    // An absolute time centuries away (or at year 1) is no information either, and near DateTimeOffset's ends the
    // token policy's arithmetic would overflow.
    private static DateTimeOffset? Plausible(DateTimeOffset now, DateTimeOffset? at) =>
        at is { } t && t > now.AddYears(-1) && t < now.AddSeconds(MaxSeconds) ? t : null;

    // A non-positive or absurd lifetime is no information: fall through to the next source.
    private static DateTimeOffset? After(DateTimeOffset now, double? seconds) =>
        seconds is > 0 and < MaxSeconds ? now.AddSeconds(seconds.Value) : null;
}
