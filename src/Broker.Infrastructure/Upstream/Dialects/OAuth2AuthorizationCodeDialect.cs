using Broker.Domain;

namespace Broker.Infrastructure.Upstream.Dialects;

/// <summary>
/// RFC 6749 authorization code grant (§4.1) with PKCE S256 (RFC 7636). A person consents in a browser; the broker
/// exchanges the code once (<see cref="BuildCodeExchange"/>) and from then on only refreshes (§6). There is no
/// login: the token issuer never asks for one (<see cref="DialectNames.LogsIn"/>).
/// </summary>
public sealed class OAuth2AuthorizationCodeDialect : DialectClient
{
    public static readonly OAuth2AuthorizationCodeDialect Instance = new();

    public override Dialect Dialect => Dialect.OAuth2AuthorizationCode;

    public override HttpRequestMessage BuildLogIn(ProviderEndpoint provider, AccountCredentials credentials) =>
        throw new InvalidOperationException(NoLogIn);

    /// <summary>§4.1.3: the code, the redirect URI it was issued for and the PKCE verifier, with client authentication.</summary>
    public HttpRequestMessage BuildCodeExchange(ProviderEndpoint provider, AccountCredentials credentials, string code, string redirectUri, string verifier) =>
        OAuth2.FormPost(provider.TokenUrl, provider, credentials with { Scope = null },
        [
            new("grant_type", "authorization_code"),
            new("code", code),
            new("redirect_uri", redirectUri),
            new("code_verifier", verifier),
        ]);

    public override HttpRequestMessage BuildRefresh(ProviderEndpoint provider, AccountCredentials credentials, string refreshToken) =>
        OAuth2PasswordDialect.Instance.BuildRefresh(provider, credentials with { Scope = null }, refreshToken);

    // The code exchange's answer is a §5.1/§5.2 answer like any login's: invalid_grant is a bad or used code.
    private protected override UpstreamOutcome MapLogInAnswer(int status, string body, DateTimeOffset now, ProviderEndpoint provider) =>
        status switch
        {
            _ when IsSuccess(status) => Grant(status, body, now, provider, "access_token", "refresh_token"),
            400 or 401 => OAuth2.MapError(status, body, refreshing: false),
            _ => Unexpected(status, body),
        };

    private protected override UpstreamOutcome MapRefreshAnswer(int status, string body, DateTimeOffset now, ProviderEndpoint provider) =>
        OAuth2PasswordDialect.Instance.MapRefresh(status, body, now, provider);

    internal const string NoLogIn = "the oauth2-authorization-code dialect has no login: a person connects the account in a browser";
}
