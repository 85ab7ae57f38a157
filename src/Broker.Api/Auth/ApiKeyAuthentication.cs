using System.Runtime.CompilerServices;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Broker.Api.Audit.Recording;
using Broker.Api.Errors;
using Broker.Api.OpenApi;
using Broker.Api.Pipeline;
using Broker.Domain;
using Broker.Infrastructure.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;

namespace Broker.Api.Auth;

/// <summary>
/// <c>Authorization: Bearer &lt;api key&gt;</c>. The key is hashed and looked up (cached briefly by
/// <see cref="ClientDirectory"/>); the resolved client, with its grants, is kept on the request. Only endpoints that
/// need a key look one up (health and Swagger never cost a lookup), and a key that is not cached is looked up only
/// while its address has some of its <see cref="KeyLookupBudget"/> left. Failures are counted by
/// <see cref="FailureAudit"/> into <see cref="RejectionAudit"/>, not written one row each.
/// </summary>
public sealed class ApiKeyAuthentication(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    ClientDirectory clients,
    KeyLookupBudget budget,
    TimeProvider time) : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string AdminPolicy = "admin";
    /// <summary>Who may scrape <c>/metrics</c>: an admin or a metrics key.</summary>
    public const string MetricsPolicy = "metrics";
    private const int MaxKeyLength = 512;
    private const string BudgetSpent = "broker.key-lookup-budget-spent";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (Context.GetEndpoint()?.Metadata.GetMetadata<IAuthorizeData>() is null) return AuthenticateResult.NoResult();
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header)) return AuthenticateResult.NoResult();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length > MaxKeyLength + 7)
            return Fail("malformed Authorization header");

        var key = header["Bearer ".Length..].Trim();
        if (key.Length == 0) return Fail("malformed Authorization header");
        if (!clients.TryGetCached(key, out var client))
        {
            var address = Context.Connection.RemoteIpAddress;
            var digest = ApiKeys.Digest(key);
            if (!await budget.BeginAsync(address, digest, Context.RequestAborted))
            {
                Context.Items[BudgetSpent] = true;
                return Fail("too many unknown API keys from this address");
            }
            var answered = false;
            try
            {
                client = await clients.FindAsync(key, Context.RequestAborted);
                answered = true;
            }
            finally
            {
                // Only an answer spends the budget: a lookup the database could not make (an outage) says nothing
                // about the key, and must not lock an address out once the database is back.
                budget.End(address, digest, failed: answered && client is null);
            }
        }
        if (client is null) return Fail("unknown or revoked API key");

        Context.Features.Set(client);
        return AuthenticateResult.Success(new AuthenticationTicket(Principals.GetValue(client, PrincipalOf), SchemeName));
    }

    /// <summary>One principal per cached client, built once: it lives as long as the client directory keeps the client.</summary>
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
        if (Context.Items.ContainsKey(BudgetSpent))
        {
            // Until the minute is over: the budget is counted per minute.
            var now = time.GetUtcNow();
            Response.Headers.RetryAfter = (60 - now.Second).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return WriteProblem(StatusCodes.Status429TooManyRequests, Problems.RateLimited, "Too many unknown API keys from this address.",
                "Keys already known are still accepted; others are looked up again from the next minute.");
        }
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
