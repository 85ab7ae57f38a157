using System.Runtime.CompilerServices;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Broker.Api.Audit.Recording;
using Broker.Api.Errors;
using Broker.Domain;
using Broker.Infrastructure.Identity;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Broker.Infrastructure.Tokens;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Broker.Api.Auth;

/// <summary>
/// <c>Authorization: Bearer &lt;api key&gt;</c>. The key is hashed and found in the <see cref="ClientDirectory"/>,
/// which holds every active key in memory; the resolved client, with its grants, is kept on the request. Only
/// endpoints that need a key look one up (health and Swagger never do). A key the directory does not hold may have
/// been created a moment ago on another instance: the request waits for the next read of the change feed, shared by
/// every request waiting at that moment whatever its address, and is answered from memory after it. So a flood of
/// made-up keys costs the database at most one feed read per <see cref="ChangeFeed.ShortestGap"/>, and no valid key
/// ever waits for anyone else's traffic. Failures are counted by <see cref="FailureAudit"/> into
/// <see cref="RejectionAudit"/>, not written one row each, and the base handler's log lines (two per refused key) are
/// not written at all: the counts are logged once a minute instead. Without an Authorization header, a client
/// certificate authenticates (<see cref="ClientCertificateIdentity"/>), where <see cref="ClientCertificateOptions"/>
/// allows one.
/// </summary>
public sealed class ApiKeyAuthentication(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    UrlEncoder encoder,
    ClientDirectory clients,
    WorkloadIdentity identities,
    ClientCertificateIdentity certificates,
    IOptions<ClientCertificateOptions> certificateOptions,
    ChangeFeed feed) : AuthenticationHandler<AuthenticationSchemeOptions>(options, NullLoggerFactory.Instance, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string AdminPolicy = "admin";
    /// <summary>Who may scrape <c>/metrics</c>: an admin or a metrics key.</summary>
    public const string MetricsPolicy = "metrics";
    private const int MaxKeyLength = 512;
    private const string RefusalItem = "broker.identity-refusal";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (Context.GetEndpoint()?.Metadata.GetMetadata<IAuthorizeData>() is null) return AuthenticateResult.NoResult();
        string? header = Request.Headers.Authorization;
        // The Authorization header wins over a client certificate: a service whose TLS stack presents a certificate
        // for another purpose (a mesh sidecar's, say) still authenticates with its key or token.
        if (string.IsNullOrEmpty(header)) return AuthenticateCertificate();
        // Room for a workload identity token over its own limit, so that it is told why (the header's is Kestrel's, 32 KB).
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length > 2 * WorkloadIdentity.MaxTokenLength)
            return Fail("malformed Authorization header");

        var key = header["Bearer ".Length..].Trim();
        if (key.Length == 0) return Fail("malformed Authorization header");
        // A directory the feed has not refreshed for a while may still hold a revoked key: 503, not a guess.
        feed.EnsureTrusted();
        if (WorkloadIdentity.IsToken(key)) return await AuthenticateIdentityAsync(key);
        if (key.Length > MaxKeyLength) return Fail("malformed Authorization header");
        var digest = ApiKeys.Digest(key);
        var client = clients.Find(digest);
        if (client is null)
        {
            await feed.CatchUpAsync(Context.RequestAborted);
            client = clients.Find(digest);
        }
        if (client is null) return Fail("unknown or revoked API key");

        Context.Features.Set(client);
        return AuthenticateResult.Success(new AuthenticationTicket(Principals.GetValue(client, PrincipalOf), SchemeName));
    }

    /// <summary>A workload identity token (docs/consumers.md, "Workload identity"): its issuer, signature and binding.</summary>
    private async Task<AuthenticateResult> AuthenticateIdentityAsync(string token) =>
        Outcome(await identities.AuthenticateAsync(token, Context.RequestAborted), "identity");

    /// <summary>
    /// No Authorization header: the client certificate (docs/consumers.md, "Client certificates"), the one a known proxy
    /// forwarded (on any other connection the header was removed, see <see cref="ForwardedClientCertificate"/>), or else
    /// the one the TLS connection presented. Neither: anonymous, answered 401 as before.
    /// </summary>
    private AuthenticateResult AuthenticateCertificate()
    {
        var settings = certificateOptions.Value;
        if (settings.ForwardedHeader is { Length: > 0 } name && Request.Headers.TryGetValue(name, out var forwarded))
        {
            var der = ForwardedClientCertificate.Read(forwarded, out var problem);
            if (problem is not null)
                return Outcome(new IdentityOutcome.Refused(IdentityRefusal.Invalid, $"The proxy's forwarded client certificate cannot be read: {problem}.",
                    "forwarded client certificate unreadable"), "certificate");
            if (der is not null)
            {
                feed.EnsureTrusted();
                return Outcome(certificates.Authenticate(der), "certificate");
            }
        }
        if (!settings.Enabled || Context.Connection.ClientCertificate is not { } presented) return AuthenticateResult.NoResult();
        feed.EnsureTrusted();
        return Outcome(certificates.Authenticate(presented), "certificate");
    }

    private AuthenticateResult Outcome(IdentityOutcome outcome, string how)
    {
        if (outcome is IdentityOutcome.Refused refused)
        {
            Context.Items[RefusalItem] = (refused, how);
            return Fail($"{how}: {refused.Reason}");
        }
        var client = ((IdentityOutcome.Authenticated)outcome).Client;
        Context.Features.Set(client);
        return AuthenticateResult.Success(new AuthenticationTicket(Principals.GetValue(client, PrincipalOf), SchemeName));
    }

    /// <summary>One principal per directory entry, built once: it lives as long as the directory keeps the entry.</summary>
    private static readonly ConditionalWeakTable<AuthenticatedClient, ClaimsPrincipal> Principals = new();

    private static ClaimsPrincipal PrincipalOf(AuthenticatedClient client) => new(new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, client.Id.ToString()),
            new Claim(ClaimTypes.Name, client.Name),
            new Claim(ClaimTypes.Role, client.Role.ToName()),
        ], SchemeName));

    private AuthenticateResult Fail(string reason)
    {
        RejectionAudit.SetReason(Context, reason);
        return AuthenticateResult.Fail(reason);
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (Context.Items[RefusalItem] is (IdentityOutcome.Refused refused, string how)) return WriteIdentityProblem(refused, how == "certificate");
        Response.Headers.WWWAuthenticate = "Bearer";
        return WriteProblem(StatusCodes.Status401Unauthorized, Problems.Unauthorized,
            "A valid API key is required.", "Send Authorization: Bearer <api key>.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        WriteProblem(StatusCodes.Status403Forbidden, Problems.Forbidden, "This API key may not do that.", null);

    private Task WriteIdentityProblem(IdentityOutcome.Refused refused, bool certificate)
    {
        // A refused certificate is no bearer token: the challenge says only what the broker takes.
        Response.Headers.WWWAuthenticate = certificate ? "Bearer" : "Bearer error=\"invalid_token\"";
        var what = certificate ? "client certificate" : "identity token";
        switch (refused.Kind)
        {
            case IdentityRefusal.Busy:
                Response.Headers.RetryAfter = "1";
                return WriteProblem(StatusCodes.Status429TooManyRequests, Problems.RateLimited, $"Too many new {what}s.", refused.Detail);
            case IdentityRefusal.KeysUnavailable:
                Response.Headers.RetryAfter = "5";
                return WriteProblem(StatusCodes.Status503ServiceUnavailable, Problems.IdentityKeysUnavailable, "The issuer's keys are unavailable.", refused.Detail);
            case IdentityRefusal.NotBound:
                return WriteProblem(StatusCodes.Status401Unauthorized, Problems.IdentityNotBound, "No client has this identity.", refused.Detail);
            case IdentityRefusal.Ambiguous:
                return WriteProblem(StatusCodes.Status401Unauthorized, Problems.IdentityAmbiguous, "More than one client has this identity.", refused.Detail);
            default:
                return WriteProblem(StatusCodes.Status401Unauthorized, Problems.IdentityInvalid, $"The {what} is not valid here.", refused.Detail);
        }
    }

    private Task WriteProblem(int status, string type, string title, string? detail) =>
        Problems.Create(status, type, title, detail).ExecuteAsync(Context);
}

public static class HttpContextClientExtensions
{
    /// <summary>The client authenticated for this request (null on anonymous endpoints).</summary>
    public static AuthenticatedClient? Client(this HttpContext http) => http.Features.Get<AuthenticatedClient>();

    /// <summary>Who made this request, for the audit trail: its client (if any), request id and address.</summary>
    public static Caller Caller(this HttpContext http)
    {
        var client = http.Client();
        return new Caller(client?.Id, client?.Name, http.TraceIdentifier, http.Connection.RemoteIpAddress?.ToString(), client?.Identity);
    }
}
