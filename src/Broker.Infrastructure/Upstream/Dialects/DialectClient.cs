using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Broker.Domain;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.Infrastructure.Upstream.Dialects;

/// <summary>
/// One upstream dialect: how to build its login and refresh requests, and how to read its answers.
/// The mappings are pure functions of (status, body, time of the request, provider), so every documented
/// answer of every upstream is a unit test; <see cref="UpstreamClient"/> does the sending.
/// </summary>
public abstract class DialectClient
{
    private protected DialectClient() { }

    public abstract Dialect Dialect { get; }

    public static DialectClient For(Dialect dialect) => dialect switch
    {
        Dialect.SlideRule => SlideRuleDialect.Instance,
        Dialect.SimpleJwt => SimpleJwtDialect.Instance,
        Dialect.Keycloak => KeycloakDialect.Instance,
        Dialect.OAuth2Password => OAuth2PasswordDialect.Instance,
        Dialect.OAuth2ClientCredentials => OAuth2ClientCredentialsDialect.Instance,
        Dialect.OAuth2AuthorizationCode => OAuth2AuthorizationCodeDialect.Instance,
        _ => throw new ArgumentOutOfRangeException(nameof(dialect)),
    };

    public abstract HttpRequestMessage BuildLogIn(ProviderEndpoint provider, AccountCredentials credentials);

    /// <summary>The refresh request, or null when the dialect has no refresh (log in again instead).</summary>
    public abstract HttpRequestMessage? BuildRefresh(ProviderEndpoint provider, AccountCredentials credentials, string refreshToken);

    /// <summary>Maps the answer to a login.</summary>
    /// <param name="now">When the request was sent: relative lifetimes count from then, which errs on the early side.</param>
    /// <param name="retryAfter">The answer's Retry-After, if any.</param>
    public UpstreamOutcome MapLogIn(int status, string body, DateTimeOffset now, ProviderEndpoint provider, TimeSpan? retryAfter = null) =>
        Transient(status, body, retryAfter) ?? NotFound(status, provider.TokenUrl, "token_url") ?? MapLogInAnswer(status, body, now, provider);

    /// <summary>Maps the answer to a refresh; see <see cref="MapLogIn"/>.</summary>
    public UpstreamOutcome MapRefresh(int status, string body, DateTimeOffset now, ProviderEndpoint provider, TimeSpan? retryAfter = null) =>
        Transient(status, body, retryAfter)
        ?? NotFound(status, RefreshUrls.For(provider) ?? provider.TokenUrl, provider.RefreshUrl is null ? "token_url" : "refresh_url")
        ?? MapRefreshAnswer(status, body, now, provider);

    private protected abstract UpstreamOutcome MapLogInAnswer(int status, string body, DateTimeOffset now, ProviderEndpoint provider);

    private protected abstract UpstreamOutcome MapRefreshAnswer(int status, string body, DateTimeOffset now, ProviderEndpoint provider);

    // Statuses that mean "not now" in every dialect: server errors, rate limits, request timeouts.
    private static Unavailable? Transient(int status, string body, TimeSpan? retryAfter) =>
        status is 408 or 429 or (>= 500 and <= 599)
            ? new Unavailable(status, WithUpstreamText($"the upstream answered HTTP {status}", body), RetryAfter: retryAfter)
            : null;

    /// <summary>
    /// 404 (no such path) or 405 (a path that takes no POST, e.g. a web page): none of the dialects' token endpoints
    /// answers so for a credential or a token, so it is the URL (a typo, a missing trailing slash, the wrong realm).
    /// The URL is named without its query; the upstream's body is not quoted, it is some server's page.
    /// </summary>
    private static EndpointNotFound? NotFound(int status, Uri url, string setting) =>
        status is 404 or 405
            ? new EndpointNotFound(status,
                $"{url.GetLeftPart(UriPartial.Path)} answered HTTP {status}: the provider's {setting} is probably wrong; check the path " +
                "(POST /admin/providers/{name}/check probes it without sending a secret)")
            : null;

    private protected static bool IsSuccess(int status) => status is >= 200 and <= 299;

    private protected static ProtocolError NotAJsonObject(int status) => new(status, $"the HTTP {status} answer is not a JSON object");

    private protected static ProtocolError Unexpected(int status, string body) =>
        new(status, WithUpstreamText($"unexpected HTTP {status} from the upstream", body));

    /// <summary>Reads a success answer into a token set; an answer without the access token is a protocol error.</summary>
    /// <remarks>Never quotes a success body: it may hold tokens.</remarks>
    private protected static UpstreamOutcome Grant(
        int status, string body, DateTimeOffset now, ProviderEndpoint provider, string accessField, string? refreshField) =>
        UpstreamJson.TryParseObject(body, out var answer)
            ? Grant(status, answer, now, provider, accessField, refreshField)
            : NotAJsonObject(status);

    private protected static UpstreamOutcome Grant(
        int status, JsonElement answer, DateTimeOffset now, ProviderEndpoint provider, string accessField, string? refreshField)
    {
        var access = UpstreamJson.ReadString(answer, accessField);
        if (access is null) return new ProtocolError(status, $"the HTTP {status} answer has no '{accessField}' token");
        if (!IsTokenText(access)) return NotAToken(status, accessField);
        var refresh = refreshField is null ? null : UpstreamJson.ReadString(answer, refreshField);
        if (refresh is not null && !IsTokenText(refresh)) return NotAToken(status, refreshField!);
        if (TokenType(answer) is not { } tokenType)
            return new ProtocolError(status, $"the HTTP {status} answer's token_type is not a token type name (RFC 6749 §7.1)");

        var tokens = new TokenSet(
            access,
            TokenExpiry.Access(answer, access, now, provider),
            refresh,
            refresh is null ? null : TokenExpiry.Refresh(answer, refresh, now, provider),
            tokenType);
        return new Granted(tokens, status);
    }

    private const int MaxTokenLength = TokenText.MaxLength;

    /// <summary>
    /// Anything but RFC 6749 token text is not a token a resource server would take; stored, it could fail the write,
    /// and handed on, it would break the consumer's Authorization header. So such an answer is a protocol error, not a grant.
    /// </summary>
    private static bool IsTokenText(string token) => TokenText.IsValid(token);

    // Never quotes the value: it may be (most of) a real token.
    private static ProtocolError NotAToken(int status, string field) =>
        new(status, $"the HTTP {status} answer's '{field}' is not a token (RFC 6749: printable ASCII, here at most {MaxTokenLength} characters)");

    // RFC 6749 §5.1 makes token_type case-insensitive; consumers put it in front of the token, so give the usual
    // spelling. §7.1 and §11.1 make it a name (letters, digits, '-', '.', '_'); it is stored in 40 characters.
    private static string? TokenType(JsonElement answer) =>
        UpstreamJson.ReadString(answer, "token_type")?.Trim() switch
        {
            null or "" => "Bearer",
            var type when type.Equals("bearer", StringComparison.OrdinalIgnoreCase) => "Bearer",
            var type when type.Length <= 40 && type.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_') => type,
            _ => null,
        };

    private protected static string Explain(string fallback, string body) => UpstreamText.DescribeOr(body, fallback);

    private static string WithUpstreamText(string sentence, string body) =>
        UpstreamText.Describe(body) is { } text ? $"{sentence}: {text}" : sentence;

    private protected static HttpRequestMessage JsonPost(Uri url, IReadOnlyDictionary<string, string?> fields)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new StringContent(JsonSerializer.Serialize(fields), Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return request;
    }
}
