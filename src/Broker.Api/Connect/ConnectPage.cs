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
    /// <summary>
    /// No script, no style, no form, no frame: the page is only text. Stricter than the API's policy, which
    /// <see cref="Pipeline.SecurityHeaders"/> therefore leaves off this page.
    /// </summary>
    public const string ContentSecurityPolicy = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    public static IResult Connected(string account) =>
        Page(StatusCodes.Status200OK, "Account connected", $"The account {account} is connected. You can close this page.");

    /// <summary>
    /// Every link that cannot connect the account any more: expired, unknown, used, replaced by a newer one, made
    /// before the account or its provider changed, for an account since deleted, or whose verifier cannot be read.
    /// </summary>
    public static IResult NoLongerValid() =>
        Page(StatusCodes.Status400BadRequest, "Link no longer valid",
            "This link is no longer valid. Ask an admin for a new link to connect the account.");

    // The texts below are fixed, chosen from the outcome: the upstream's error and description (which anyone who
    // crafts a callback URL chooses) are in the audit trail, never on the broker's own page.
    public static IResult Denied(string account) =>
        Page(StatusCodes.Status400BadRequest, "Access denied", $"Access was denied, so the account {account} was not connected.");

    public static IResult UpstreamError(string account) =>
        Page(StatusCodes.Status400BadRequest, "Not connected",
            $"The upstream did not grant access, so the account {account} was not connected. An admin finds the reason in the audit trail.");

    public static IResult ExchangeFailed(string account) =>
        Page(StatusCodes.Status502BadGateway, "Not connected",
            $"The upstream refused to exchange the code, so the account {account} was not connected. An admin finds the reason in the audit trail.");

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
            http.Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
            return http.Response.WriteAsync(html, http.RequestAborted);
        }
    }
}
