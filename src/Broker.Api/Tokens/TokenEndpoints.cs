using Broker.Api.Admin;
using System.Globalization;
using Broker.Api.Audit.Recording;
using Broker.Api.Auth;
using Broker.Api.Errors;
using Broker.Api.Pipeline;
using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Observability;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Broker.Infrastructure.Tokens;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Broker.Api.Tokens;

/// <summary>The consumer API: fetch a token for an account, report a token the upstream refused.</summary>
public static class TokenEndpoints
{
    public static RouteGroupBuilder MapTokens(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/accounts/{account}/token")
            .WithTags("Tokens")
            .RequireClient(ClientRoles.TokenCaller);

        group.MapGet("", GetToken)
            .WithName("GetToken")
            .WithSummary("Get a currently valid access token for an upstream account")
            .WithDescription("Served from memory when possible; otherwise the broker refreshes or logs in upstream, once, " +
                             "however many callers and instances ask at the same moment. The response is never cached (Cache-Control: no-store).")
            .Produces<TokenResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status502BadGateway)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .ProducesProblem(StatusCodes.Status504GatewayTimeout);

        group.MapPost("/rejected", ReportRejected)
            .WithName("ReportRejectedToken")
            .WithSummary("Report that the upstream refused a token the broker handed out")
            .WithDescription("Send the refused token as {\"access_token\": ...}: the broker drops it only while it is still the current one, " +
                             "so many callers reporting the same token cause one refresh, not a storm.")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    // A ValueTask, and no endpoint filters: a cache hit completes without a task, an argument array or a filter context.
    public static async ValueTask<Results<TokenAnswer, ValidationProblem, ProblemHttpResult>> GetToken(
        string account, HttpContext http, TokenIssuer issuer, AuditQueue audit, ServedTokenRollups rollups, BrokerMetrics metrics,
        TimeProvider time, IOptions<TokenOptions> options, ClientRateLimit limit, CancellationToken ct)
    {
        if (await RefusalAsync(http, limit, account) is { } refused) return refused;
        var client = http.Client()!;
        var query = http.Request.Query["min_validity"];
        var minValidity = options.Value.DefaultMinValidity;
        if (query.Count > 1) return Problems.Validation("min_validity", "Give min_validity at most once.");
        if (query.Count == 1)
        {
            if (!int.TryParse(query[0], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) ||
                seconds > options.Value.MaxMinValidity.TotalSeconds)
                return Problems.Validation("min_validity",
                    $"min_validity is a whole number of seconds from 0 to {(int)options.Value.MaxMinValidity.TotalSeconds}.");
            minValidity = TimeSpan.FromSeconds(seconds);
        }

        var caller = http.Caller();
        var result = await issuer.GetTokenAsync(account, minValidity, caller, ct);
        var now = time.GetUtcNow();
        switch (result)
        {
            case TokenResult.Served served:
                metrics.TokenServed(served.FromCache);
                var counted = new ServedToken(client.Id, client.Name, client.Identity, served.AccountId, account, served.ProviderName,
                    served.TokenHmac, http.Connection.RemoteIpAddress, served.FromCache);
                if (!rollups.Count(counted, now, http.TraceIdentifier))
                    Audit(audit, time, http, account, served.AccountId, AuditActions.TokenServed, served.FromCache ? "hit" : "miss",
                    served.ProviderName, served.TokenHmac);
                http.Response.Headers.CacheControl = "no-store";
                http.Response.Headers.Pragma = "no-cache";
                // Whole seconds, in UTC, whatever the upstream's answer or the clock gave: one format (and never later than the truth).
                var expiresAt = new DateTimeOffset(served.ExpiresAt.UtcTicks - served.ExpiresAt.UtcTicks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
                return new TokenAnswer(new TokenResponse(served.AccessToken, served.TokenType, expiresAt,
                    Math.Max(0, (long)(expiresAt - now).TotalSeconds), account));
            case TokenResult.NotFound:
                Audit(audit, time, http, account, null, AuditActions.TokenFailed, "not_found", null);
                return Problems.NotFoundProblem("account");
            case TokenResult.Failed failed:
                Audit(audit, time, http, account, failed.AccountId == Guid.Empty ? null : failed.AccountId,
                    AuditActions.TokenFailed, failed.Failure.ToName(), failed.ProviderName);
                return FailureProblem(http, failed);
            default:
                throw new InvalidOperationException($"Unexpected result {result.GetType().Name}.");
        }
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> ReportRejected(
        string account, RejectedTokenRequest? body, HttpContext http, TokenIssuer issuer, AuditQueue audit,
        TimeProvider time, ClientRateLimit limit, CancellationToken ct)
    {
        if (await RefusalAsync(http, limit, account) is { } refused) return refused;
        var dropped = await issuer.DropRejectedAsync(account, body?.AccessToken, ct);
        if (dropped is null) return Problems.NotFoundProblem("account");
        Audit(audit, time, http, account, null, AuditActions.TokenRejected, dropped.Value ? "dropped" : "already_replaced", null);
        return TypedResults.NoContent();
    }

    private static ProblemHttpResult NotGranted() =>
        Problems.Create(StatusCodes.Status403Forbidden, Problems.NotGranted, "This client is not granted that account.", NotGrantedDetail);

    // The same words whether or not the name exists, so names cannot be probed.
    internal const string NotGrantedDetail =
        "Check the account name in the URL (names are matched exactly, case included); if it is right, ask an admin to grant this client the account.";

    /// <summary>
    /// What both endpoints check first, in this order: the client's rate limit (<see cref="ClientRateLimit"/>), then its
    /// grant on the account. A refusal of the grant is recorded one way whichever endpoint it was (token.failed,
    /// not_granted), counted per client, address and minute (<see cref="RejectionAudit"/>): a client probing names costs
    /// one row a minute, not one per name. A name the broker could never have created gets the same answer without a
    /// lookup. Not granted and not existing look the same to a consumer: no probing for account names.
    /// </summary>
    private static async ValueTask<ProblemHttpResult?> RefusalAsync(HttpContext http, ClientRateLimit limit, string account)
    {
        if (limit.Refusal(http) is { } limited) return limited;
        var possible = FieldErrors.IsName(account);
        if (possible && await IsGrantedAsync(http, account)) return null;
        http.RequestServices.GetRequiredService<RejectionAudit>().Count(http, AuditActions.TokenFailed,
            possible ? "account not granted" : "impossible account name", outcome: "not_granted", account: account);
        return NotGranted();
    }

    /// <summary>
    /// The directory's grants first; on a miss, after the change feed caught up, since the grant may have been added
    /// a moment ago through another instance (one feed read shared by every request waiting for it).
    /// </summary>
    private static async ValueTask<bool> IsGrantedAsync(HttpContext http, string account)
    {
        var client = http.Client()!;
        if (client.IsGranted(account)) return true;
        var services = http.RequestServices;
        await services.GetRequiredService<ChangeFeed>().CatchUpAsync(http.RequestAborted);
        var reloaded = services.GetRequiredService<ClientDirectory>().Current(client);
        if (reloaded is null) return false;
        http.Features.Set(reloaded);
        return reloaded.IsGranted(account);
    }

    /// <summary>
    /// The problem a consumer sees. Its detail is the broker's own sentence, never the upstream's words: those are
    /// an upstream's to choose (an attacker's, if it is compromised) and are for admins, who read them in the
    /// account's last_error, the audit trail and the test endpoint.
    /// </summary>
    private static ProblemHttpResult FailureProblem(HttpContext http, TokenResult.Failed failed)
    {
        if (failed.RetryAfter is { } retryAfter)
            http.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return failed.Failure switch
        {
            TokenFailure.NeedsAttention => failed.Attention switch
            {
                AttentionReason.SecretsMissing => Problems.Create(StatusCodes.Status409Conflict, Problems.CredentialsMissing,
                    "The broker holds no credentials to log this account in with; an admin must enter them or import a refresh token.",
                    NothingSent("says which credential is missing")),
                AttentionReason.ReconnectRequired => Problems.Create(StatusCodes.Status409Conflict, Problems.ReconnectRequired,
                    "This account's refresh token can no longer be used and the broker cannot log it in by itself; a person must connect it again.",
                    Answered("Retrying does not help: an admin must connect the account again (POST /admin/accounts/{name}/connect).")),
                _ => Problems.Create(StatusCodes.Status409Conflict, Problems.CredentialsRejected,
                    "The upstream rejected this account's credentials; an admin must update them.",
                    Answered("Retrying does not help: the broker makes no further logins for this account until an admin updates its credentials.")),
            },
            TokenFailure.Inactive => Problems.Create(StatusCodes.Status409Conflict, Problems.AccountInactive,
                "The upstream says this account is no longer active.",
                Answered("Retrying does not help: the account must be made active again upstream, then tested by an admin.")),
            TokenFailure.NotConnected => Problems.Create(StatusCodes.Status409Conflict, Problems.AccountNotConnected,
                "This account is not connected; an admin must connect it in a browser.",
                NothingSent("says how to connect it (POST /admin/accounts/{name}/connect)")),
            TokenFailure.UpstreamUnavailable => Problems.Create(StatusCodes.Status503ServiceUnavailable, Problems.UpstreamUnavailable,
                "The upstream is unavailable; try again later.",
                Answered("Retry after the Retry-After header's seconds; if it lasts, tell the broker's admins.")),
            TokenFailure.UpstreamTimeout => Problems.Create(StatusCodes.Status504GatewayTimeout, Problems.UpstreamTimeout,
                "The upstream did not answer in time; try again later.",
                Answered("Retry in a few seconds; if it lasts, tell the broker's admins.")),
            TokenFailure.UpstreamProtocolError => Problems.Create(StatusCodes.Status502BadGateway, Problems.UpstreamProtocolError,
                "The upstream answered something the broker cannot read.",
                Answered("Retry later; if it lasts, tell the broker's admins.")),
            TokenFailure.UpstreamEndpointNotFound => Problems.Create(StatusCodes.Status502BadGateway, Problems.UpstreamEndpointNotFound,
                "The upstream has no token endpoint at the URL this account's provider names; an admin must correct the provider's URL.",
                "Retrying does not help. The account's last_error names the URL that answered 404 or 405; " +
                "POST /admin/providers/{name}/check probes the provider's URLs without sending a secret."),
            TokenFailure.UpstreamDestinationRefused => Problems.Create(StatusCodes.Status502BadGateway, Problems.UpstreamDestinationRefused,
                "The broker may not call this account's upstream where it is configured; an admin must change the provider or the broker's configuration.",
                "Nothing was sent to the upstream; retrying does not help. The account's last_error names the address and the setting that refuses it."),
            // The broker's own words about its database: no upstream text in them.
            _ => Problems.Create(StatusCodes.Status503ServiceUnavailable, Problems.DatabaseUnavailable,
                "The broker's database is unavailable; try again later.", failed.Detail),
        };
    }

    // What to do, then where an admin reads what the upstream said.
    private static string Answered(string whatToDo) =>
        $"{whatToDo} What the upstream answered is recorded for the broker's admins (the account's last_error and the audit trail).";

    // For failures found before any upstream call: there is no upstream answer to point to.
    private static string NothingSent(string lastErrorSays) =>
        $"Nothing was sent to the upstream, and retrying does not help until an admin acts; the account's last_error {lastErrorSays}.";

    private static void Audit(AuditQueue audit, TimeProvider time, HttpContext http, string account, Guid? accountId,
        string action, string outcome, string? provider, string? tokenHmac = null) =>
        RequestAudit.Record(audit, time, http, action, outcome, account, accountId, provider,
            tokenHmac: tokenHmac);
}
