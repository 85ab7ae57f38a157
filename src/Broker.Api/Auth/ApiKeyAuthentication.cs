using System.Runtime.CompilerServices;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Broker.Api.Audit;
using Broker.Api.Infrastructure;
using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Broker.Api.Auth;

/// <summary>
/// <c>Authorization: Bearer &lt;api key&gt;</c>. The key is hashed and looked up (cached briefly by
/// <see cref="ClientDirectory"/>); the resolved client, with its grants, is kept on the request.
/// </summary>
public sealed class ApiKeyAuthentication(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    ClientDirectory clients,
    AuditQueue audit,
    TimeProvider time) : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string Scheme = "ApiKey";
    public const string AdminPolicy = "admin";
    private const int MaxKeyLength = 512;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header)) return AuthenticateResult.NoResult();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length > MaxKeyLength + 7)
            return Fail("malformed Authorization header");

        var key = header["Bearer ".Length..].Trim();
        var client = key.Length == 0 ? null : await clients.FindAsync(key, Context.RequestAborted);
        if (client is null) return Fail("unknown or revoked API key");

        Context.Features.Set(client);
        return AuthenticateResult.Success(new AuthenticationTicket(Principals.GetValue(client, PrincipalOf), Scheme));
    }

    /// <summary>One principal per cached client, built once: it lives as long as the client directory keeps the client.</summary>
    private static readonly ConditionalWeakTable<AuthenticatedClient, ClaimsPrincipal> Principals = new();

    private static ClaimsPrincipal PrincipalOf(AuthenticatedClient client) => new(new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, client.Id.ToString()),
            new Claim(ClaimTypes.Name, client.Name),
            new Claim(ClaimTypes.Role, client.Role == ClientRole.Admin ? "admin" : "consumer"),
        ], Scheme));

    private AuthenticateResult Fail(string reason)
    {
        RequestAudit.Record(audit, time, Context, AuditActions.AuthFailed, "rejected", detail: reason);
        return AuthenticateResult.Fail(reason);
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        return WriteProblem(StatusCodes.Status401Unauthorized, Problems.Unauthorized,
            "A valid API key is required.", "Send Authorization: Bearer <api key>.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        WriteProblem(StatusCodes.Status403Forbidden, Problems.Forbidden, "This API key may not do that.", null);

    private Task WriteProblem(int status, string type, string title, string? detail) =>
        Problems.Create(status, type, title, detail).ExecuteAsync(Context);
}

public static class HttpContextClientExtensions
{
    /// <summary>The client authenticated for this request (null on anonymous endpoints).</summary>
    public static AuthenticatedClient? Client(this HttpContext http) => http.Features.Get<AuthenticatedClient>();
}
