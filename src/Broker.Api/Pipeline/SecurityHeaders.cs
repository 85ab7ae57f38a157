using Broker.Api.Connect;

namespace Broker.Api.Pipeline;

/// <summary>
/// Security headers on every response (NetEscapades.AspNetCore.SecurityHeaders): the API's answers are JSON that no
/// browser should render, frame or sniff; the Swagger page gets a content security policy that lets it load only its
/// own scripts and styles and talk only to the broker.
/// </summary>
public static class SecurityHeaders
{
    public static IApplicationBuilder UseBrokerSecurityHeaders(this IApplicationBuilder app)
    {
        var api = new HeaderPolicyCollection()
            .AddDefaultApiSecurityHeaders() // nosniff, frame DENY, no-referrer, CSP default-src 'none'; frame-ancestors 'none'
            .RemoveServerHeader();
        // The connect callback's HTML page: the API's headers with the page's own, stricter policy (set here, since
        // these headers are written last and would replace one the page set itself).
        var connectPage = new HeaderPolicyCollection()
            .AddDefaultApiSecurityHeaders()
            .RemoveServerHeader()
            .AddCustomHeader("Content-Security-Policy", ConnectPage.ContentSecurityPolicy);
        var swagger = new HeaderPolicyCollection()
            .AddContentTypeOptionsNoSniff()
            .AddFrameOptionsDeny()
            .AddReferrerPolicyNoReferrer()
            .AddCrossOriginOpenerPolicy(policy => policy.SameOrigin())
            .RemoveServerHeader()
            .AddContentSecurityPolicy(csp =>
            {
                csp.AddDefaultSrc().None();
                csp.AddScriptSrc().Self();
                // Swagger UI sets style attributes from its scripts; no inline script is allowed.
                csp.AddStyleSrc().Self().UnsafeInline();
                csp.AddImgSrc().Self().Data();
                csp.AddFontSrc().Self();
                csp.AddConnectSrc().Self();
                csp.AddFormAction().Self();
                csp.AddBaseUri().None();
                csp.AddFrameAncestors().None();
            });
        return app.UseWhen(http => http.Request.Path.StartsWithSegments("/swagger"), branch => branch.UseSecurityHeaders(swagger))
            .UseWhen(http => http.Request.Path.StartsWithSegments(ConnectEndpoints.CallbackPath), branch => branch.UseSecurityHeaders(connectPage))
            .UseWhen(http => !http.Request.Path.StartsWithSegments("/swagger") && !http.Request.Path.StartsWithSegments(ConnectEndpoints.CallbackPath),
                branch => branch.UseSecurityHeaders(api));
    }
}
