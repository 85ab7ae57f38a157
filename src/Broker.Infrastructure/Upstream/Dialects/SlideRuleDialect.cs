using System.Text.Json;
using Broker.Domain;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.Infrastructure.Upstream.Dialects;

/// <summary>SlideRule's organisation tokens: simplejwt underneath, plus an organisation.</summary>
public sealed class SlideRuleDialect : DialectClient
{
    public static readonly SlideRuleDialect Instance = new();

    public override Dialect Dialect => Dialect.SlideRule;

    public override HttpRequestMessage BuildLogIn(ProviderEndpoint provider, AccountCredentials credentials) =>
        JsonPost(provider.TokenUrl, new Dictionary<string, string?>
        {
            ["username"] = credentials.Username,
            ["password"] = credentials.Password,
            ["org_name"] = credentials.OrgName,
        });

    public override HttpRequestMessage BuildRefresh(ProviderEndpoint provider, AccountCredentials credentials, string refreshToken) =>
        JsonPost(RefreshUrls.For(provider)!, new Dictionary<string, string?> { ["refresh"] = refreshToken });

    private protected override UpstreamOutcome MapLogInAnswer(int status, string body, DateTimeOffset now, ProviderEndpoint provider) =>
        status switch
        {
            _ when IsSuccess(status) => Success(status, body, now, provider),
            // 401 bad username or password, 403 not a valid organisation or not a member, 400 missing fields.
            400 or 401 or 403 => new CredentialsRejected(status, Explain("the upstream rejected the credentials", body)),
            _ => Unexpected(status, body),
        };

    private protected override UpstreamOutcome MapRefreshAnswer(int status, string body, DateTimeOffset now, ProviderEndpoint provider) =>
        status switch
        {
            _ when IsSuccess(status) => Success(status, body, now, provider),
            // Blacklisted (already used), expired, "not valid for any token type", or "not a member": all mean this
            // refresh token is done. The login that follows tells the truth about membership.
            400 or 401 or 403 => new RefreshRejected(status, Explain("the upstream rejected the refresh token", body)),
            _ => Unexpected(status, body),
        };

    // SlideRule answers 200 {"active":false} when the user is a member but no longer an active one.
    private static UpstreamOutcome Success(int status, string body, DateTimeOffset now, ProviderEndpoint provider)
    {
        if (!UpstreamJson.TryParseObject(body, out var answer)) return NotAJsonObject(status);
        if (answer.TryGetProperty("active", out var active) && active.ValueKind == JsonValueKind.False)
            return new AccountInactive(status, "the upstream answered {\"active\":false}: the user is no longer an active member of the organization");
        return Grant(status, answer, now, provider, "access", "refresh");
    }
}
