using Broker.Api.Audit.Recording;
using Broker.Api.Errors;
using Broker.Infrastructure.Identity;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Broker.Infrastructure.Tokens;
using Microsoft.Extensions.Options;

namespace Broker.Api.Auth;

/// <summary>
/// Who is calling, on the endpoints that say which clients they serve (<see cref="ClientRoles"/>; health, Swagger and
/// the connect callback say none and are never looked at): <c>Authorization: Bearer &lt;api key&gt;</c>, a workload
/// identity token in the same header, or else a client certificate where <see cref="ClientCertificateOptions"/> allow
/// one. The client found, with its grants, is kept on the request (<see cref="HttpContextClientExtensions.Client"/>);
/// one of another role is answered 403, no client 401.
/// </summary>
/// <remarks>
/// <para>A key is hashed and found in the <see cref="ClientDirectory"/>, which holds every active key in memory. A key
/// the directory does not hold may have been created a moment ago on another instance: the request waits for the next
/// read of the change feed, shared by every request waiting at that moment whatever its address, and is answered from
/// memory after it. So a flood of made-up keys costs the database at most one feed read per
/// <see cref="ChangeFeed.ShortestGap"/>, and no valid key ever waits for anyone else's traffic.</para>
/// <para>Failures are counted by <see cref="FailureAudit"/> into <see cref="RejectionAudit"/>, not written one row
/// each, and logged once a minute with their counts.</para>
/// <para>This is the broker's own middleware, not an ASP.NET Core authentication handler with authorization policies:
/// those built a handler, a principal's ticket, an authorization context and a dozen tasks for every request, about 40 %
/// of what a cached fetch allocated (docs/benchmarks.md). Nothing reads a <c>ClaimsPrincipal</c>: the client is the
/// identity.</para>
/// </remarks>
public sealed class CallerAuthentication(
    RequestDelegate next,
    ClientDirectory clients,
    WorkloadIdentity identities,
    ClientCertificateIdentity certificates,
    IOptions<ClientCertificateOptions> certificateOptions,
    ChangeFeed feed)
{
    private const int MaxKeyLength = 512;

    public Task InvokeAsync(HttpContext http)
    {
        if (http.GetEndpoint()?.Metadata.GetMetadata<ClientRoles>() is not { } roles) return next(http);
        string? header = http.Request.Headers.Authorization;
        // The Authorization header wins over a client certificate: a service whose TLS stack presents a certificate
        // for another purpose (a mesh sidecar's, say) still authenticates with its key or token.
        if (string.IsNullOrEmpty(header)) return CertificateAsync(http, roles);
        // Room for a workload identity token over its own limit, so that it is told why (the header's is Kestrel's, 32 KB).
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length > 2 * WorkloadIdentity.MaxTokenLength)
            return Unauthorized(http, "malformed Authorization header");

        var key = header.AsSpan("Bearer ".Length).Trim();
        if (key.IsEmpty) return Unauthorized(http, "malformed Authorization header");
        // A directory the feed has not refreshed for a while may still hold a revoked key: 503, not a guess.
        feed.EnsureTrusted();
        if (WorkloadIdentity.IsToken(key)) return IdentityAsync(http, roles, key.ToString());
        if (key.Length > MaxKeyLength) return Unauthorized(http, "malformed Authorization header");
        var digest = ApiKeys.Digest(key);
        return clients.Find(digest) is { } client ? Admit(http, roles, client) : AfterCatchUpAsync(http, roles, digest);
    }

    private async Task AfterCatchUpAsync(HttpContext http, ClientRoles roles, ApiKeyDigest digest)
    {
        await feed.CatchUpAsync(http.RequestAborted);
        await (clients.Find(digest) is { } client ? Admit(http, roles, client) : Unauthorized(http, "unknown or revoked API key"));
    }

    /// <summary>A workload identity token (docs/consumers.md, "Workload identity"): its issuer, signature and binding.</summary>
    private async Task IdentityAsync(HttpContext http, ClientRoles roles, string token) =>
        await Outcome(http, roles, await identities.AuthenticateAsync(token, http.RequestAborted), certificate: false);

    /// <summary>
    /// No Authorization header: the client certificate (docs/consumers.md, "Client certificates"), the one a known proxy
    /// forwarded (on any other connection the header was removed, see <see cref="ForwardedClientCertificate"/>), or else
    /// the one the TLS connection presented. Neither: 401.
    /// </summary>
    private Task CertificateAsync(HttpContext http, ClientRoles roles)
    {
        var settings = certificateOptions.Value;
        if (settings.ForwardedHeader is { Length: > 0 } name && http.Request.Headers.TryGetValue(name, out var forwarded))
        {
            var der = ForwardedClientCertificate.Read(forwarded, out var problem);
            if (problem is not null)
                return Outcome(http, roles, new IdentityOutcome.Refused(IdentityRefusal.Invalid, $"The proxy's forwarded client certificate cannot be read: {problem}.",
                    "forwarded client certificate unreadable"), certificate: true);
            if (der is not null)
            {
                feed.EnsureTrusted();
                return Outcome(http, roles, certificates.Authenticate(der), certificate: true);
            }
        }
        if (!settings.Enabled || http.Connection.ClientCertificate is not { } presented) return Unauthorized(http, reason: null);
        feed.EnsureTrusted();
        return Outcome(http, roles, certificates.Authenticate(presented), certificate: true);
    }

    private Task Outcome(HttpContext http, ClientRoles roles, IdentityOutcome outcome, bool certificate)
    {
        if (outcome is IdentityOutcome.Authenticated authenticated) return Admit(http, roles, authenticated.Client);
        var refused = (IdentityOutcome.Refused)outcome;
        RejectionAudit.SetReason(http, $"{(certificate ? "certificate" : "identity")}: {refused.Reason}");
        return IdentityProblem(http, refused, certificate);
    }

    /// <summary>The client is kept on the request even when its role is refused: the 403 is recorded with who asked.</summary>
    private Task Admit(HttpContext http, ClientRoles roles, AuthenticatedClient client)
    {
        http.Features.Set(client);
        return roles.Allows(client.Role)
            ? next(http)
            : Problems.Create(StatusCodes.Status403Forbidden, Problems.Forbidden, "This API key may not do that.", null).ExecuteAsync(http);
    }

    /// <summary>401, and why for the count of refusals; a null reason: no credential at all (counted as "no API key").</summary>
    private static Task Unauthorized(HttpContext http, string? reason)
    {
        if (reason is not null) RejectionAudit.SetReason(http, reason);
        http.Response.Headers.WWWAuthenticate = "Bearer";
        return Problems.Create(StatusCodes.Status401Unauthorized, Problems.Unauthorized,
            "A valid API key is required.", "Send Authorization: Bearer <api key>.").ExecuteAsync(http);
    }

    private static Task IdentityProblem(HttpContext http, IdentityOutcome.Refused refused, bool certificate)
    {
        var response = http.Response;
        // A refused certificate is no bearer token: the challenge says only what the broker takes.
        response.Headers.WWWAuthenticate = certificate ? "Bearer" : "Bearer error=\"invalid_token\"";
        var what = certificate ? "client certificate" : "identity token";
        var problem = refused.Kind switch
        {
            IdentityRefusal.Busy => Problems.Create(StatusCodes.Status429TooManyRequests, Problems.RateLimited, $"Too many new {what}s.", refused.Detail),
            IdentityRefusal.KeysUnavailable => Problems.Create(StatusCodes.Status503ServiceUnavailable, Problems.IdentityKeysUnavailable,
                "The issuer's keys are unavailable.", refused.Detail),
            IdentityRefusal.NotBound => Problems.Create(StatusCodes.Status401Unauthorized, Problems.IdentityNotBound, "No client has this identity.", refused.Detail),
            IdentityRefusal.Ambiguous => Problems.Create(StatusCodes.Status401Unauthorized, Problems.IdentityAmbiguous,
                "More than one client has this identity.", refused.Detail),
            _ => Problems.Create(StatusCodes.Status401Unauthorized, Problems.IdentityInvalid, $"The {what} is not valid here.", refused.Detail),
        };
        if (refused.Kind == IdentityRefusal.Busy) response.Headers.RetryAfter = "1";
        if (refused.Kind == IdentityRefusal.KeysUnavailable) response.Headers.RetryAfter = "5";
        return problem.ExecuteAsync(http);
    }
}
