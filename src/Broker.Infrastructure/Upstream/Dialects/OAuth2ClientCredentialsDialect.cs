using Broker.Domain;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.Infrastructure.Upstream.Dialects;

/// <summary>
/// RFC 6749 client credentials grant (§4.4). There is no refresh: a new token is one more login, and a refresh
/// token the server sends anyway (§4.4.3 says it should not) is dropped rather than stored.
/// </summary>
public sealed class OAuth2ClientCredentialsDialect : DialectClient
{
    public static readonly OAuth2ClientCredentialsDialect Instance = new();

    public override Dialect Dialect => Dialect.OAuth2ClientCredentials;

    public override HttpRequestMessage BuildLogIn(ProviderEndpoint provider, AccountCredentials credentials) =>
        OAuth2.FormPost(provider.TokenUrl, provider, credentials, [new("grant_type", "client_credentials")]);

    public override HttpRequestMessage? BuildRefresh(ProviderEndpoint provider, AccountCredentials credentials, string refreshToken) => null;

    private protected override UpstreamOutcome MapLogInAnswer(int status, string body, DateTimeOffset now, ProviderEndpoint provider) =>
        status switch
        {
            _ when IsSuccess(status) => Grant(status, body, now, provider, "access_token", refreshField: null),
            400 or 401 => OAuth2.MapError(status, body, refreshing: false),
            _ => Unexpected(status, body),
        };

    // Never called by UpstreamClient (there is no refresh request); answers as a rejected refresh so any caller
    // falls back to logging in.
    private protected override UpstreamOutcome MapRefreshAnswer(int status, string body, DateTimeOffset now, ProviderEndpoint provider) =>
        new RefreshRejected(null, NoRefresh);

    internal const string NoRefresh = "the oauth2-client-credentials dialect has no refresh: log in again";
}
