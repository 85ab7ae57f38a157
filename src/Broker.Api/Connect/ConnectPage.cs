using System.Net;
using Broker.Domain;
using Broker.Infrastructure.Persistence;

namespace Broker.Api.Connect;

/// <summary>
/// The small page a person sees at the end of connecting an account. Everything in it is HTML-encoded; it has no
/// script (the response's content security policy allows none), and never holds a code, a state or a token.
/// </summary>
public static class ConnectPage
{
    public static IResult Connected(string account) =>
        Page(StatusCodes.Status200OK, "Account connected", $"The account {account} is connected. You can close this page.");

    public static IResult UnknownState() =>
        Page(StatusCodes.Status400BadRequest, "Link not valid",
            "This link is expired, unknown or already used. Ask an admin to start connecting the account again.");

    public static IResult Denied(string account, string? description) =>
        Page(StatusCodes.Status400BadRequest, "Access denied",
            $"Access was denied, so the account {account} was not connected." + Said(description));

    public static IResult UpstreamError(string account, string error, string? description) =>
        Page(StatusCodes.Status400BadRequest, "Not connected",
            $"The upstream answered {error}, so the account {account} was not connected." + Said(description));

    public static IResult ExchangeFailed(string account, string detail) =>
        Page(StatusCodes.Status502BadGateway, "Not connected",
            $"The upstream refused to exchange the code, so the account {account} was not connected: {detail}");

    public static IResult AccountChanged(string account) =>
        Page(StatusCodes.Status409Conflict, "Not connected",
            $"The account {account} changed since connecting began (another provider, or one that is not oauth2-authorization-code). Start again.");

    private static string Said(string? description) =>
        string.IsNullOrWhiteSpace(description) ? "" : $" The upstream said: {SafeText.Shorten(description, 200)}";

    private static IResult Page(int status, string title, string message)
    {
        var html = $"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>{Encode(title)}</title></head>
            <body><h1>{Encode(title)}</h1><p id="message">{Encode(SafeText.Shorten(message, Limits.Detail))}</p></body></html>
            """;
        return new HtmlResult(html, status);
    }

    private static string Encode(string text) => WebUtility.HtmlEncode(text);

    private sealed class HtmlResult(string html, int status) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.StatusCode = status;
            http.Response.ContentType = "text/html; charset=utf-8";
            http.Response.Headers.CacheControl = "no-store";
            // No script, no style, no form, no frame: the page is only text.
            http.Response.Headers.ContentSecurityPolicy = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
            return http.Response.WriteAsync(html, http.RequestAborted);
        }
    }
}
