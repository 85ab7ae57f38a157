using System.Net.Http.Headers;
using System.Text;
using Broker.Domain;
using Broker.Infrastructure.Outbound;
using Broker.Infrastructure.Upstream.Dialects;
using Microsoft.Extensions.Options;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.Infrastructure.Upstream;

/// <summary>
/// Logs in to and refreshes with an upstream, in its dialect, and says what happened as an
/// <see cref="UpstreamOutcome"/>. Expected failures (rejections, timeouts, refused connections, unreadable
/// answers) are outcomes, not exceptions; only the caller's own cancellation is thrown.
/// </summary>
/// <remarks>
/// Sends each request exactly once: a retried refresh whose first attempt did reach the upstream would spend a
/// single-use refresh token twice. Retrying is the token issuer's decision, under the account's lock.
/// </remarks>
public sealed class UpstreamClient(HttpClient http, TimeProvider time, IOptions<UpstreamOptions> options)
{
    /// <summary>The named client of the HTTP client factory that carries every upstream call.</summary>
    public const string HttpClientName = "upstream";

    /// <summary>Token answers are a few kilobytes; a bigger body is not a token answer.</summary>
    internal const int MaxBodyBytes = 1 << 20;

    public Task<UpstreamOutcome> LogInAsync(ProviderEndpoint provider, AccountCredentials credentials, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(credentials);
        var dialect = DialectClient.For(provider.Dialect);
        return SendAsync(
            dialect.BuildLogIn(provider, credentials),
            (status, body, sentAt, retryAfter) => dialect.MapLogIn(status, body, sentAt, provider, retryAfter),
            [credentials.Password, credentials.ClientSecret],
            provider,
            ct);
    }

    public Task<UpstreamOutcome> RefreshAsync(ProviderEndpoint provider, AccountCredentials credentials, string refreshToken, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(credentials);
        ArgumentException.ThrowIfNullOrEmpty(refreshToken);
        var dialect = DialectClient.For(provider.Dialect);
        if (dialect.BuildRefresh(provider, credentials, refreshToken) is not { } request)
            return Task.FromResult<UpstreamOutcome>(new RefreshRejected(null, OAuth2ClientCredentialsDialect.NoRefresh));
        return SendAsync(
            request,
            (status, body, sentAt, retryAfter) => dialect.MapRefresh(status, body, sentAt, provider, retryAfter),
            [refreshToken, credentials.Password, credentials.ClientSecret],
            provider,
            ct);
    }

    /// <summary>
    /// Exchanges an authorization code (oauth2-authorization-code) for the account's first token set. The code and
    /// the verifier are redacted from whatever the upstream answers, like any secret of a request.
    /// </summary>
    public Task<UpstreamOutcome> ExchangeCodeAsync(ProviderEndpoint provider, AccountCredentials credentials, string code, string redirectUri,
        string verifier, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(credentials);
        var dialect = OAuth2AuthorizationCodeDialect.Instance;
        return SendAsync(
            dialect.BuildCodeExchange(provider, credentials, code, redirectUri, verifier),
            (status, body, sentAt, retryAfter) => dialect.MapLogIn(status, body, sentAt, provider, retryAfter),
            [code, verifier, credentials.ClientSecret],
            provider,
            ct);
    }

    private async Task<UpstreamOutcome> SendAsync(
        HttpRequestMessage request,
        Func<int, string, DateTimeOffset, TimeSpan?, UpstreamOutcome> map,
        string?[] secrets,
        ProviderEndpoint provider,
        CancellationToken ct)
    {
        using var _ = request;
        if (OutboundDestinations.PlainHttpProblem(request.RequestUri!, provider.Name, options.Value) is { } plainHttp)
            return new DestinationRefused(plainHttp);
        // A provider may have a shorter timeout; never a longer one: the global one bounds how long a lock is held.
        var timeout = provider.Timeout is { } own && own < options.Value.Timeout ? own : options.Value.Timeout;
        using var timeoutCts = new CancellationTokenSource(timeout, time);
        using var linkedCts = CancellationTokenSource.CreateLinkedTokenSource(ct, timeoutCts.Token);

        // Lifetimes the upstream states relative to "now" count from before the request went out: early, not late.
        var sentAt = time.GetUtcNow();
        UpstreamOutcome outcome;
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linkedCts.Token);
            var status = (int)response.StatusCode;
            // The timeout covers the body too: an upstream dripping a byte at a time is cut off at the same deadline.
            var body = await ReadBodyAsync(response.Content, linkedCts.Token);
            outcome = body is null
                ? new ProtocolError(status, $"the HTTP {status} answer is larger than {MaxBodyBytes / 1024} KiB")
                : Map(map, status, status is >= 200 and <= 299 ? body : RedactText(body, secrets), sentAt, response);
        }
        // The caller's cancellation propagates; anything else cancelling us is our timeout (or HttpClient.Timeout).
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            outcome = new Unavailable(null, $"the upstream did not answer within {timeout.TotalSeconds:0.###} s", TimedOut: true);
        }
        // Our own connect callback's refusal: its message is ours, and names the address and the setting to change.
        catch (HttpRequestException e) when (e.InnerException is OutboundDestinationRefusedException refused)
        {
            outcome = new DestinationRefused(refused.Message);
        }
        // Only the error kind: exception messages name hosts and sockets, and are not ours to vet.
        catch (HttpRequestException e)
        {
            outcome = new Unavailable(null, $"could not reach the upstream ({e.HttpRequestError})");
        }
        catch (IOException)
        {
            outcome = new Unavailable(null, "the connection to the upstream broke while reading its answer");
        }
        // Whatever else an answer makes go wrong is an answer we cannot read, never an exception for the token path.
        catch (Exception e) when (e is not OperationCanceledException)
        {
            outcome = new ProtocolError(null, $"the upstream's answer could not be read ({e.GetType().Name})");
        }
        return Redact(outcome, secrets);
    }

    /// <summary>
    /// The dialects' mappings are meant to read any answer; should one still throw on something no test thought
    /// of, the answer is unreadable (502), and the account's state and audit row are written as for any other.
    /// </summary>
    private UpstreamOutcome Map(Func<int, string, DateTimeOffset, TimeSpan?, UpstreamOutcome> map, int status, string body,
        DateTimeOffset sentAt, HttpResponseMessage response)
    {
        try
        {
            return map(status, body, sentAt, RetryAfter(response.Headers.RetryAfter, time.GetUtcNow()));
        }
        catch (Exception e)
        {
            return new ProtocolError(status, $"the HTTP {status} answer could not be read ({e.GetType().Name})");
        }
    }

    private static async Task<string?> ReadBodyAsync(HttpContent content, CancellationToken ct)
    {
        if (content.Headers.ContentLength > MaxBodyBytes) return null;
        await using var stream = await content.ReadAsStreamAsync(ct);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes) return null;
            buffer.Write(chunk, 0, read);
        }
        buffer.Position = 0;
        // JSON is UTF-8 (RFC 8259 §8.1); the reader drops a byte order mark if a server sends one.
        using var reader = new StreamReader(buffer, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return await reader.ReadToEndAsync(ct);
    }

    private static TimeSpan? RetryAfter(RetryConditionHeaderValue? header, DateTimeOffset now) => header switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date > now ? date - now : TimeSpan.Zero,
        _ => null,
    };

    /// <summary>
    /// The upstream's error text is quoted in Detail, and an upstream may echo what it was sent: make sure no
    /// password, client secret or refresh token of this request survives in it.
    /// </summary>
    private static UpstreamOutcome Redact(UpstreamOutcome outcome, string?[] secrets)
    {
        if (outcome is Granted) return outcome;
        var detail = RedactText(outcome.Detail, secrets);
        return ReferenceEquals(detail, outcome.Detail) ? outcome : outcome with { Detail = detail };
    }

    // Error bodies are redacted before they are described too: a secret echoed near the length cut would otherwise
    // survive as a prefix that no longer matches the whole secret.
    private static string RedactText(string text, string?[] secrets)
    {
        foreach (var secret in secrets)
        {
            if (!string.IsNullOrEmpty(secret)) text = text.Replace(secret, "[redacted]", StringComparison.Ordinal);
        }
        return text;
    }
}
