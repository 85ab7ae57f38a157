using Broker.Domain;

namespace Broker.Infrastructure.Upstream.Dialects;

/// <summary>
/// Where a provider's refresh request goes: its configured refresh URL, or the dialect's usual place next to the
/// token URL. Public so the admin API can show the URL that will actually be called.
/// </summary>
public static class RefreshUrls
{
    /// <summary>The refresh URL the broker calls for this provider; null when the dialect has no refresh.</summary>
    public static Uri? For(ProviderEndpoint provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        if (!provider.Dialect.CanRefresh()) return null;
        return provider.RefreshUrl ?? Default(provider.Dialect, provider.TokenUrl);
    }

    /// <summary>The refresh URL a dialect uses when none is configured; null when the dialect has no refresh.</summary>
    public static Uri? Default(Dialect dialect, Uri tokenUrl)
    {
        ArgumentNullException.ThrowIfNull(tokenUrl);
        return dialect switch
        {
            // SlideRule: /api/org_token/ → /api/org_token/refresh/ (seed 001).
            Dialect.SlideRule => WithPath(tokenUrl, WithTrailingSlash(tokenUrl.AbsolutePath) + "refresh/"),
            // simplejwt's own docs name the pair token/obtain/ + token/refresh/ (Progeny) or token/ + token/refresh/.
            Dialect.SimpleJwt => WithPath(tokenUrl, SimpleJwtPath(tokenUrl.AbsolutePath)),
            // Vivacity: /get-token → /refresh-token, a sibling of the login endpoint (seed 003).
            Dialect.Keycloak => WithPath(tokenUrl, SiblingPath(tokenUrl.AbsolutePath, "refresh-token")),
            // RFC 6749 §6: the refresh grant goes to the token endpoint itself.
            Dialect.OAuth2Password or Dialect.OAuth2AuthorizationCode => tokenUrl,
            Dialect.OAuth2ClientCredentials => null,
            _ => throw new ArgumentOutOfRangeException(nameof(dialect)),
        };
    }

    private static string SimpleJwtPath(string path)
    {
        if (path.EndsWith("/obtain/", StringComparison.Ordinal)) return path[..^"obtain/".Length] + "refresh/";
        if (path.EndsWith("/obtain", StringComparison.Ordinal)) return path[..^"obtain".Length] + "refresh";
        return WithTrailingSlash(path) + "refresh/";
    }

    private static string SiblingPath(string path, string sibling)
    {
        var trailingSlash = path.Length > 1 && path.EndsWith('/');
        var trimmed = trailingSlash ? path[..^1] : path;
        var lastSlash = trimmed.LastIndexOf('/');
        return trimmed[..(lastSlash + 1)] + sibling + (trailingSlash ? "/" : "");
    }

    private static string WithTrailingSlash(string path) => path.EndsWith('/') ? path : path + "/";

    // String surgery on the already escaped path keeps escapes as they are (UriBuilder.Path would re-escape them).
    private static Uri WithPath(Uri tokenUrl, string path)
    {
        var origin = tokenUrl.GetLeftPart(UriPartial.Authority);
        return new Uri(origin + path + tokenUrl.Query);
    }
}
