using Broker.Domain;

namespace Broker.Infrastructure.Upstream.Dialects;

/// <summary>
/// RFC 6749 resource owner password grant (§4.3) and refresh (§6): django-oauth-toolkit (seed 004), Keycloak's
/// token endpoint. Tokens are often opaque, so expiry comes from <c>expires_in</c> (a number, or a string per
/// seed 004).
/// </summary>
public sealed class OAuth2PasswordDialect : DialectClient
{
    public static readonly OAuth2PasswordDialect Instance = new();

    public override Dialect Dialect => Dialect.OAuth2Password;

    public override HttpRequestMessage BuildLogIn(ProviderEndpoint provider, AccountCredentials credentials) =>
        OAuth2.FormPost(provider.TokenUrl, provider, credentials,
        [
            new("grant_type", "password"),
            new("username", credentials.Username ?? ""),
            new("password", credentials.Password ?? ""),
        ]);

    public override HttpRequestMessage BuildRefresh(ProviderEndpoint provider, AccountCredentials credentials, string refreshToken) =>
        OAuth2.FormPost(RefreshUrls.For(provider)!, provider, credentials,
        [
            new("grant_type", "refresh_token"),
            new("refresh_token", refreshToken),
        ]);

    private protected override UpstreamOutcome MapLogInAnswer(int status, string body, DateTimeOffset now, ProviderEndpoint provider) =>
        status switch
        {
            _ when IsSuccess(status) => Grant(status, body, now, provider, "access_token", "refresh_token"),
            400 or 401 => OAuth2.MapError(status, body, refreshing: false),
            _ => Unexpected(status, body),
        };

    private protected override UpstreamOutcome MapRefreshAnswer(int status, string body, DateTimeOffset now, ProviderEndpoint provider) =>
        status switch
        {
            _ when IsSuccess(status) => Grant(status, body, now, provider, "access_token", "refresh_token"),
            400 or 401 => OAuth2.MapError(status, body, refreshing: true),
            _ => Unexpected(status, body),
        };
}
