using System.Net.Http.Headers;
using System.Text;
using Broker.Api.Errors;
using Broker.Domain;
using Broker.Infrastructure.Outbound;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Upstream;
using Broker.Infrastructure.Upstream.Dialects;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Broker.Api.Admin;

/// <summary>
/// <c>POST /admin/providers/{name}/check</c>: calls each of a provider's URLs once, the way the broker will, but with
/// an empty body, so that a typo in a URL is found before an account uses it. Nothing secret is sent (no client
/// secret, no password, no token, no Authorization header): a token endpoint that is where it should be answers
/// such a request with a 400 or 401 in JSON, a wrong path with 404 or 405.
/// </summary>
public static class ProviderCheck
{
    public static RouteHandlerBuilder MapProviderCheck(this RouteGroupBuilder group) =>
        group.MapPost("/{name}/check", Check).WithName("CheckProvider").WithSummary("Probe a provider's URLs without sending a secret")
            .WithDescription("Sends one request with an empty body to token_url, to the refresh URL the broker uses, and a GET to " +
                             "authorization_url, and says for each whether it was reached (DNS, connection, TLS), its status and " +
                             "content type, and what to fix: \"token_url answered 404: check the path\". No credential or " +
                             "token is sent; the accounts and the circuit breaker are not touched. ok is true when no URL has a problem.")
            .ProducesProblem(StatusCodes.Status404NotFound);

    /// <param name="Field">The provider field the URL comes from: token_url, refresh_url or authorization_url.</param>
    /// <param name="Url">The URL called, without its query.</param>
    /// <param name="Reached">Whether an HTTP answer came back at all.</param>
    /// <param name="Status">The answer's HTTP status, if any.</param>
    /// <param name="ContentType">The answer's media type, if any.</param>
    /// <param name="Ok">Whether the answer looks like the endpoint the field names.</param>
    /// <param name="Message">What was found and what to do, in one sentence.</param>
    public sealed record UrlCheck(string Field, string Url, bool Reached, int? Status, string? ContentType, bool Ok, string Message);

    public sealed record CheckResponse(string Provider, bool Ok, IReadOnlyList<UrlCheck> Checks);

    public static async Task<Results<Ok<CheckResponse>, ProblemHttpResult>> Check(
        string name, BrokerDbContext db, IHttpClientFactory clients, IOptions<UpstreamOptions> options, CancellationToken ct)
    {
        var provider = await db.Providers.AsNoTracking().FirstOrDefaultAsync(p => p.Name == name, ct);
        if (provider is null) return Problems.NotFoundProblem("provider");

        var endpoint = provider.ToEndpoint();
        var http = clients.CreateClient(UpstreamClient.HttpClientName);
        var checks = new List<UrlCheck> { await ProbeTokenEndpoint(http, "token_url", endpoint.TokenUrl, provider, options.Value, ct) };
        if (RefreshUrls.For(endpoint) is { } refreshUrl && refreshUrl != endpoint.TokenUrl)
            checks.Add(await ProbeTokenEndpoint(http, "refresh_url", refreshUrl, provider, options.Value, ct));
        if (provider.AuthorizationUrl is { } authorizationUrl)
            checks.Add(await ProbeAsync(http, "authorization_url", new Uri(authorizationUrl), provider, options.Value, HttpMethod.Get, null, ct));
        return TypedResults.Ok(new CheckResponse(provider.Name, checks.All(c => c.Ok), checks));
    }

    // The dialect's own content type, with nothing in it: a JSON dialect gets {}, an OAuth2 one an empty form.
    private static Task<UrlCheck> ProbeTokenEndpoint(HttpClient http, string field, Uri url, Provider provider, UpstreamOptions options,
        CancellationToken ct) =>
        ProbeAsync(http, field, url, provider, options, HttpMethod.Post,
            provider.Dialect is Dialect.SlideRule or Dialect.SimpleJwt or Dialect.Keycloak
                ? new StringContent("{}", Encoding.UTF8, "application/json")
                : new FormUrlEncodedContent([]),
            ct);

    private static async Task<UrlCheck> ProbeAsync(HttpClient http, string field, Uri url, Provider provider, UpstreamOptions options,
        HttpMethod method, HttpContent? content, CancellationToken ct)
    {
        var shown = url.GetLeftPart(UriPartial.Path);
        if (OutboundDestinations.PlainHttpProblem(url, provider.Name, options) is { } plainHttp)
            return new UrlCheck(field, shown, false, null, null, false, $"{field} was not called: {plainHttp}.");

        using var request = new HttpRequestMessage(method, url) { Content = content };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(provider.TimeoutSeconds is { } own && TimeSpan.FromSeconds(own) < options.Timeout ? TimeSpan.FromSeconds(own) : options.Timeout);
        try
        {
            // Headers are enough: the body is some server's page, not ours to read or quote.
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            var type = response.Content.Headers.ContentType?.MediaType;
            var (ok, message) = Judge(field, status, type, response.Headers.Location, method == HttpMethod.Get);
            return new UrlCheck(field, shown, true, status, type, ok, message);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new UrlCheck(field, shown, false, null, null, false,
                $"{field} did not answer within {options.Timeout.TotalSeconds:0.###} s: check the host and port, and that the broker may reach it.");
        }
        catch (HttpRequestException e) when (e.InnerException is OutboundDestinationRefusedException refused)
        {
            return new UrlCheck(field, shown, false, null, null, false, $"{field} was not called: {refused.Message}");
        }
        catch (HttpRequestException e)
        {
            return new UrlCheck(field, shown, false, null, null, false, e.HttpRequestError switch
            {
                HttpRequestError.NameResolutionError => $"{field}'s host name does not resolve: check the host.",
                HttpRequestError.ConnectionError => $"{field} refused the connection: check the host and port.",
                HttpRequestError.SecureConnectionError => $"{field}'s TLS handshake failed: check the certificate (name, expiry, issuer) or the port.",
                _ => $"{field} could not be reached ({e.HttpRequestError}).",
            });
        }
    }

    private static (bool Ok, string Message) Judge(string field, int status, string? type, Uri? location, bool page)
    {
        var json = type is not null && (type == "application/json" || type.EndsWith("+json", StringComparison.Ordinal));
        return status switch
        {
            404 or 405 => (false, $"{field} answered {status}: check the path."),
            >= 300 and <= 399 when !page => (false,
                $"{field} answered {status}, a redirect{(location is null ? "" : $" to {location.GetLeftPart(UriPartial.Path)}")}: the broker does not follow redirects; use the final URL."),
            >= 500 => (false, $"{field} answered {status}: the upstream is failing now; check again later."),
            // A consent page is a web page: any answer but a missing path will do.
            _ when page => (true, $"{field} answered {status}{(type is null ? "" : $" ({type})")}."),
            _ when !json => (false, $"{field} answered {status} with {type ?? "no content type"}, not JSON: it may not be a token endpoint; check the URL."),
            _ => (true, $"{field} answered {status} with JSON, as a token endpoint does to a request without credentials."),
        };
    }
}
