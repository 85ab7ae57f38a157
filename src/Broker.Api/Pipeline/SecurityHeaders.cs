using Broker.Api.Connect;
using Microsoft.Extensions.Primitives;

namespace Broker.Api.Pipeline;

/// <summary>
/// Security headers on every response. The API's answers are JSON that no browser should render, frame or sniff: they
/// carry the headers OWASP's REST guidance lists (nosniff, framing denied, a content security policy that allows
/// nothing, no referrer) and no more: a document's headers (permissions and cross-origin policies) say nothing about
/// JSON and would cost every fetch ~500 bytes. The Swagger page gets a policy that lets it load only its own scripts
/// and styles and talk only to the broker; the connect callback's page, its own stricter one.
/// </summary>
/// <remarks>
/// Written when the response starts, so that they are on every answer, also one the exception handler or the
/// status-code pages wrote after clearing the headers. The sets are made once; a request only picks one (this runs on
/// every request: NetEscapades' middleware, used before, built a dictionary of headers per response, ~10 % of a cached
/// fetch's CPU time in a profile).
/// </remarks>
public sealed class SecurityHeaders(RequestDelegate next)
{
    private const string SwaggerContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; " +
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

    private static readonly HeaderSet Api = new(
        [
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
            ("Referrer-Policy", "no-referrer"),
        ]);

    // Swagger UI sets style attributes from its scripts; no inline script is allowed.
    private static readonly HeaderSet Swagger = new(
        [
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", SwaggerContentSecurityPolicy),
            ("Referrer-Policy", "no-referrer"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
        ]);

    // The page's own policy is set here, since these headers are written last and would replace one the page set itself.
    private static readonly HeaderSet ConnectPage = new(
        [
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", Connect.ConnectPage.ContentSecurityPolicy),
            ("Referrer-Policy", "no-referrer"),
        ]);

    public Task InvokeAsync(HttpContext http)
    {
        var path = http.Request.Path;
        var set = path.StartsWithSegments("/swagger") ? Swagger
            : path.StartsWithSegments(ConnectEndpoints.CallbackPath) ? ConnectPage
            : Api;
        http.Response.OnStarting(set.WriteTo, http.Response);
        return next(http);
    }

    private sealed class HeaderSet
    {
        private readonly (string Name, StringValues Value)[] _headers;

        public HeaderSet((string Name, string Value)[] headers)
        {
            _headers = [.. headers.Select(h => (h.Name, new StringValues(h.Value)))];
            WriteTo = Write;
        }

        /// <summary>The response-starting callback, made once per set.</summary>
        public Func<object, Task> WriteTo { get; }

        private Task Write(object state)
        {
            var response = (HttpResponse)state;
            foreach (var (name, value) in _headers) response.Headers[name] = value;
            return Task.CompletedTask;
        }
    }
}
