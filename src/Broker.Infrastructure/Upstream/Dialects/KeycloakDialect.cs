using Broker.Domain;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.Infrastructure.Upstream.Dialects;

/// <summary>
/// A JSON front of a Keycloak token endpoint (Vivacity's /get-token, seed 003): Keycloak's token answer, but a
/// JSON request. The refresh request is undocumented upstream, so its field name is configurable
/// (<see cref="ProviderEndpoint.RefreshTokenField"/>); a rejected refresh falls back to logging in.
/// </summary>
public sealed class KeycloakDialect : DialectClient
{
    public const string DefaultRefreshTokenField = "refresh_token";

    public static readonly KeycloakDialect Instance = new();

    public override Dialect Dialect => Dialect.Keycloak;

    public override HttpRequestMessage BuildLogIn(ProviderEndpoint provider, AccountCredentials credentials) =>
        JsonPost(provider.TokenUrl, new Dictionary<string, string?>
        {
            ["username"] = credentials.Username,
            ["password"] = credentials.Password,
        });

    public override HttpRequestMessage BuildRefresh(ProviderEndpoint provider, AccountCredentials credentials, string refreshToken)
    {
        var field = string.IsNullOrWhiteSpace(provider.RefreshTokenField) ? DefaultRefreshTokenField : provider.RefreshTokenField;
        return JsonPost(RefreshUrls.For(provider)!, new Dictionary<string, string?> { [field] = refreshToken });
    }

    private protected override UpstreamOutcome MapLogInAnswer(int status, string body, DateTimeOffset now, ProviderEndpoint provider) =>
        status switch
        {
            _ when IsSuccess(status) => Grant(status, body, now, provider, "access_token", "refresh_token"),
            400 or 401 or 403 when OAuth2.SaysAccountDisabled(body) =>
                new AccountInactive(status, Explain("the upstream says the account is disabled", body)),
            400 or 401 or 403 => new CredentialsRejected(status, Explain("the upstream rejected the credentials", body)),
            _ => Unexpected(status, body),
        };

    private protected override UpstreamOutcome MapRefreshAnswer(int status, string body, DateTimeOffset now, ProviderEndpoint provider) =>
        status switch
        {
            _ when IsSuccess(status) => Grant(status, body, now, provider, "access_token", "refresh_token"),
            // {"error":"forbidden"} once expired, invalid_grant "Token is not active", "Session not active"...
            400 or 401 or 403 => new RefreshRejected(status, Explain("the upstream rejected the refresh token", body)),
            _ => Unexpected(status, body),
        };
}
