using Broker.Domain;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.Infrastructure.Upstream.Dialects;

/// <summary>
/// djangorestframework-simplejwt's token/obtain and token/refresh views (Progeny, seed 002). The answers state no
/// lifetime: expiry comes from the tokens' JWT <c>exp</c>. A refresh answer holds a refresh token only when the
/// server rotates them (<c>ROTATE_REFRESH_TOKENS</c>).
/// </summary>
public sealed class SimpleJwtDialect : DialectClient
{
    public static readonly SimpleJwtDialect Instance = new();

    public override Dialect Dialect => Dialect.SimpleJwt;

    public override HttpRequestMessage BuildLogIn(ProviderEndpoint provider, AccountCredentials credentials) =>
        JsonPost(provider.TokenUrl, new Dictionary<string, string?>
        {
            ["username"] = credentials.Username,
            ["password"] = credentials.Password,
        });

    public override HttpRequestMessage BuildRefresh(ProviderEndpoint provider, AccountCredentials credentials, string refreshToken) =>
        JsonPost(RefreshUrls.For(provider)!, new Dictionary<string, string?> { ["refresh"] = refreshToken });

    private protected override UpstreamOutcome MapLogInAnswer(int status, string body, DateTimeOffset now, ProviderEndpoint provider) =>
        status switch
        {
            _ when IsSuccess(status) => Grant(status, body, now, provider, "access", "refresh"),
            // 401 "No active account found with the given credentials"; 400 field errors (a missing password).
            400 or 401 => new CredentialsRejected(status, Explain("the upstream rejected the credentials", body)),
            _ => Unexpected(status, body),
        };

    private protected override UpstreamOutcome MapRefreshAnswer(int status, string body, DateTimeOffset now, ProviderEndpoint provider) =>
        status switch
        {
            _ when IsSuccess(status) => Grant(status, body, now, provider, "access", "refresh"),
            // 401 token_not_valid: used (blacklisted), expired or malformed.
            400 or 401 => new RefreshRejected(status, Explain("the upstream rejected the refresh token", body)),
            _ => Unexpected(status, body),
        };
}
