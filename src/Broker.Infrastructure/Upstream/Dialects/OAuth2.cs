using System.Net.Http.Headers;
using System.Text;
using Broker.Domain;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.Infrastructure.Upstream.Dialects;

/// <summary>What the RFC 6749 dialects share: form requests, client authentication, the §5.2 error answer.</summary>
internal static class OAuth2
{
    /// <summary>
    /// A form POST to the token endpoint. The client authenticates by HTTP Basic when it has a secret and the
    /// provider says so (RFC 6749 §2.3.1 prefers it); otherwise, and always for a public client (no secret, e.g.
    /// a Keycloak public client), <c>client_id</c> and any secret go in the form body.
    /// </summary>
    public static HttpRequestMessage FormPost(
        Uri url, ProviderEndpoint provider, AccountCredentials credentials, List<KeyValuePair<string, string>> fields)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));

        if (!string.IsNullOrWhiteSpace(credentials.Scope)) fields.Add(new("scope", credentials.Scope));

        if (!string.IsNullOrEmpty(credentials.ClientSecret) && provider.ClientAuthentication == ClientAuthentication.Basic)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", BasicCredentials(credentials.ClientId ?? "", credentials.ClientSecret));
        }
        else
        {
            if (!string.IsNullOrEmpty(credentials.ClientId)) fields.Add(new("client_id", credentials.ClientId));
            if (!string.IsNullOrEmpty(credentials.ClientSecret)) fields.Add(new("client_secret", credentials.ClientSecret));
        }

        request.Content = new FormUrlEncodedContent(fields);
        return request;
    }

    /// <summary>
    /// RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined and base64-encoded, so a colon
    /// or a non-ASCII character in either survives (servers decode them; a raw colon would split the pair).
    /// </summary>
    public static string BasicCredentials(string clientId, string clientSecret) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{FormEncode(clientId)}:{FormEncode(clientSecret)}"));

    private static string FormEncode(string value) => Uri.EscapeDataString(value).Replace("%20", "+", StringComparison.Ordinal);

    /// <summary>
    /// Maps an RFC 6749 §5.2 error answer (400, or 401 for client authentication) by its <c>error</c> code.
    /// </summary>
    public static UpstreamOutcome MapError(int status, string body, bool refreshing)
    {
        var error = UpstreamJson.TryParseObject(body, out var answer) ? UpstreamJson.ReadString(answer, "error") : null;
        return error switch
        {
            // On a refresh, invalid_grant is the refresh token (used, expired, revoked): log in instead.
            "invalid_grant" when refreshing => new RefreshRejected(status, Explain("the upstream rejected the refresh token", body)),
            // Keycloak's token endpoint: invalid_grant "Account disabled".
            "invalid_grant" when SaysAccountDisabled(body) => new AccountInactive(status, Explain("the upstream says the account is disabled", body)),
            "invalid_grant" or "invalid_client" or "unauthorized_client" or "invalid_scope" =>
                new CredentialsRejected(status, Explain("the upstream rejected the credentials", body)),
            // §5.2: a 401 means the client failed to authenticate, whatever the body says.
            _ when status == 401 => new CredentialsRejected(status, Explain("the upstream rejected the client credentials", body)),
            // invalid_request, unsupported_grant_type, or no error code: we sent something the server does not
            // take, which no credential change fixes.
            _ => new ProtocolError(status, Explain($"the upstream refused the request (HTTP {status})", body)),
        };
    }

    /// <summary>
    /// Keycloak says "Account disabled" for a disabled user. "Account temporarily disabled" is its brute-force
    /// lock-out, which passes by itself: that stays a credentials problem, not an inactive account.
    /// </summary>
    public static bool SaysAccountDisabled(string body) =>
        UpstreamText.Describe(body) is { } text &&
        text.Contains("disabled", StringComparison.OrdinalIgnoreCase) &&
        !text.Contains("temporarily", StringComparison.OrdinalIgnoreCase);

    private static string Explain(string fallback, string body) => UpstreamText.DescribeOr(body, fallback);
}
