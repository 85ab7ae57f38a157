using Broker.Api.Audit.Recording;
using System.Security.Cryptography;
using Broker.Api.Admin;
using Broker.Api.Auth;
using Broker.Api.Errors;
using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Connect;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Broker.Infrastructure.Tokens;
using Broker.Infrastructure.Upstream;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Broker.Api.Connect;

/// <summary>
/// Connecting an account in a browser (oauth2-authorization-code, RFC 6749 §4.1 with PKCE S256, RFC 7636): an admin
/// asks for an authorization URL, a person consents there, the upstream sends their browser to the callback, which
/// exchanges the code and stores the token set. From then on the account lives on its refresh token.
/// </summary>
public static partial class ConnectEndpoints
{
    public const string CallbackPath = "/oauth/callback";

    /// <summary>Longer than any state the broker issues (43 characters) or code an upstream sends: not one.</summary>
    private const int MaxStateLength = 200;
    private const int MaxCodeLength = 4096;

    public static IEndpointRouteBuilder MapConnect(this IEndpointRouteBuilder routes)
    {
        routes.MapGroup("/admin/accounts").WithTags("Accounts").RequireClient(ClientRoles.Admin).WithNameRuleAndAdminProblems()
            .MapPost("/{name}/connect", Start).WithName("ConnectAccount").WithSummary("Begin connecting an account in a browser")
            .WithDescription("oauth2-authorization-code accounts only. Answers the upstream's authorization URL (with a fresh single-use " +
                             "state and a PKCE S256 challenge) for a person to open in a browser before expires_at (Broker:Connect:StateLifetime, " +
                             "10 min by default); their consent ends at GET /oauth/callback, which stores the account's tokens. Each call " +
                             "starts a new attempt and ends the earlier ones; a change of the account or its provider ends them too. 409 when the provider is of another dialect " +
                             "or Broker:PublicBaseUrl is not set.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);

        routes.MapGet(CallbackPath, Callback).WithTags("Accounts").WithName("ConnectCallback")
            .WithSummary("Where the upstream sends the person's browser after consent")
            .WithDescription("Needs no API key: the state authenticates it, once, before it expires. Exchanges the code for the account's " +
                             "token set and answers a small HTML page saying which account was connected, or why not (access denied, " +
                             "a link expired, unknown or used already, the account changed, the upstream refused the exchange).")
            .Produces<string>(StatusCodes.Status200OK, "text/html").Produces<string>(StatusCodes.Status400BadRequest, "text/html")
            .Produces<string>(StatusCodes.Status409Conflict, "text/html").Produces<string>(StatusCodes.Status502BadGateway, "text/html");
        return routes;
    }

    public static async Task<Results<Ok<ConnectResponse>, ProblemHttpResult>> Start(
        string name, BrokerDbContext db, SecretProtector secrets, IOptions<PublicUrlOptions> publicUrl, IOptions<ConnectOptions> options,
        TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var account = await db.Accounts.AsNoTracking().Include(a => a.Provider).FirstOrDefaultAsync(a => a.Name == name, ct);
        if (account is null) return Problems.NotFoundProblem("account");
        var provider = account.Provider!;
        if (provider.Dialect != Dialect.OAuth2AuthorizationCode || string.IsNullOrEmpty(provider.AuthorizationUrl))
            return Problems.Create(StatusCodes.Status409Conflict, Problems.Conflict, "Only an oauth2-authorization-code account is connected in a browser.",
                $"The account's provider {provider.Name} speaks {provider.Dialect.ToName()}.");
        if (publicUrl.Value.CallbackUrl is not { } redirectUri)
            return Problems.Create(StatusCodes.Status409Conflict, Problems.Conflict, "Broker:PublicBaseUrl is not set.",
                "Set it to the broker's address as a browser reaches it; the upstream sends the browser back to {PublicBaseUrl}/oauth/callback.");

        var now = time.GetUtcNow();
        var state = Pkce.NewSecret();
        var verifier = Pkce.NewSecret();
        var expiresAt = now + options.Value.StateLifetime;
        // Expired attempts serve nothing: each new one sweeps them. An earlier link for this account ends here too: only
        // the newest one an admin handed out connects it.
        await db.ConnectAttempts.Where(a => a.ExpiresAt < now || (a.AccountId == account.Id && a.UsedAt == null)).ExecuteDeleteAsync(ct);
        db.ConnectAttempts.Add(new ConnectAttempt
        {
            StateHash = Pkce.HashState(state), AccountId = account.Id, ProviderId = provider.Id, Binding = ConnectBinding.Of(account, provider),
            VerifierEncrypted = secrets.Protect(SecretKind.PkceVerifier, verifier), RedirectUri = redirectUri,
            CreatedAt = now, ExpiresAt = expiresAt,
        });
        AdminAudit.Record(db, http, time, AuditActions.AccountConnectStarted, account.Name, account.Id, provider.Name,
            $"expires at {expiresAt:O}");
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(new ConnectResponse(AuthorizationUrl(account, provider, redirectUri, state, verifier), expiresAt));
    }

    /// <summary>RFC 6749 §4.1.1 and RFC 7636 §4.3: the provider's URL, its own query kept, the broker's parameters added.</summary>
    private static string AuthorizationUrl(Account account, Provider provider, string redirectUri, string state, string verifier)
    {
        var parameters = new List<KeyValuePair<string, string>>
        {
            new("response_type", "code"),
            new("client_id", account.ClientIdOn(provider) ?? ""),
            new("redirect_uri", redirectUri),
            new("state", state),
            new("code_challenge", Pkce.Challenge(verifier)),
            new("code_challenge_method", "S256"),
        };
        if (account.ScopeOn(provider) is { Length: > 0 } scope) parameters.Add(new("scope", scope));
        foreach (var (key, value) in provider.AuthorizationParameters ?? []) parameters.Add(new(key, value));
        var url = provider.AuthorizationUrl!;
        var query = string.Join('&', parameters.Select(p => $"{Uri.EscapeDataString(p.Key)}={Uri.EscapeDataString(p.Value)}"));
        return url + (url.Contains('?') ? "&" : "?") + query;
    }

    public static async Task<IResult> Callback(
        [FromQuery] string? state, [FromQuery] string? code, [FromQuery] string? error, [FromQuery(Name = "error_description")] string? errorDescription,
        [FromQuery] string? iss,
        BrokerDbContext db, SecretProtector secrets, UpstreamClient upstream, CacheInvalidation caches, AuditHasher hasher,
        IOptions<TokenOptions> tokenOptions, IOptions<UpstreamOptions> upstreamOptions, TimeProvider time, HttpContext http,
        RejectionAudit rejections, ILogger<ConnectAttempt> logger, CancellationToken ct)
    {
        // Anyone can call the callback: a state that leads nowhere is counted per address and minute, not logged each time.
        if (string.IsNullOrEmpty(state) || state.Length > MaxStateLength) return UnknownState(http, rejections);

        // Used at once, whatever follows: a state works once, on one instance, however many callbacks race.
        var now = time.GetUtcNow();
        var hash = Pkce.HashState(state);
        var attempts = await db.Database.SqlQuery<UsedAttempt>(
            $"""
             UPDATE connect_attempts SET used_at = {now}
             WHERE state_hash = {hash} AND used_at IS NULL AND expires_at > {now}
             RETURNING account_id AS "AccountId", provider_id AS "ProviderId", verifier_encrypted AS "VerifierEncrypted", redirect_uri AS "RedirectUri",
                       binding AS "Binding"
             """).ToListAsync(ct);
        if (attempts is not [var attempt]) return UnknownState(http, rejections);

        // The state is spent: from here the exchange, once sent, is finished and stored whatever the browser does
        // (a code is single use, and its tokens would be lost); a stopping host waits for this request to end.
        ct = CancellationToken.None;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await AccountLocks.SetTimeoutsAsync(db, tokenOptions.Value.LockTimeout, upstreamOptions.Value.WorstCaseCall + tokenOptions.Value.LockTimeout, ct);
        var account = await AccountLocks.LockAccountAsync(db, attempt.AccountId, ct);
        if (account is null) return ConnectPage.NoLongerValid(); // deleted since: as if the state never existed
        var provider = account.Provider!;

        // RFC 9207, before anything of the answer is believed (an error too): an answer naming another authorization
        // server is a mix-up, and one without iss from a server whose metadata promises it may be one.
        if (IssuerProblem(provider, iss) is var (issuerOutcome, issuerDetail))
        {
            Record(db, http, time, account, AuditActions.AccountConnectFailed, issuerOutcome, issuerDetail);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            LogNotConnected(logger, account.Name, issuerOutcome);
            return ConnectPage.UpstreamError(account.Name);
        }

        if (!string.IsNullOrEmpty(error))
        {
            var said = SafeText.Shorten(errorDescription, 200);
            var denied = error == "access_denied";
            Record(db, http, time, account, AuditActions.AccountConnectFailed, denied ? "denied" : "upstream_error",
                SafeText.Shorten($"{SafeText.Shorten(error, 60)}: {said}", Limits.Detail));
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            LogNotConnected(logger, account.Name, denied ? "denied" : "upstream_error");
            // The upstream's words go to the audit row only: on the broker's own page they could be anyone's wording.
            return denied ? ConnectPage.Denied(account.Name) : ConnectPage.UpstreamError(account.Name);
        }
        if (account.ProviderId != attempt.ProviderId || provider.Dialect != Dialect.OAuth2AuthorizationCode
            || attempt.Binding is null || !attempt.Binding.AsSpan().SequenceEqual(ConnectBinding.Of(account, provider)))
        {
            Record(db, http, time, account, AuditActions.AccountConnectFailed, "account_changed", "the account or its provider changed since connecting began");
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            return ConnectPage.NoLongerValid();
        }
        if (string.IsNullOrEmpty(code) || code.Length > MaxCodeLength)
        {
            Record(db, http, time, account, AuditActions.AccountConnectFailed, "no_code", "the callback carried no code");
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            return ConnectPage.UpstreamError(account.Name);
        }

        var credentials = UpstreamCredentials.For(account, provider, secrets);
        string verifier;
        try
        {
            verifier = secrets.Unprotect(SecretKind.PkceVerifier, attempt.VerifierEncrypted);
        }
        catch (Exception e) when (e is CryptographicException or FormatException)
        {
            // Its key was revoked (reencrypt-secrets run by an older broker) or lost: the link cannot be completed.
            Record(db, http, time, account, AuditActions.AccountConnectFailed, "verifier_unreadable",
                $"the attempt's PKCE verifier cannot be decrypted ({e.Message})");
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            LogNotConnected(logger, account.Name, "verifier_unreadable");
            return ConnectPage.NoLongerValid();
        }
        var outcome = await upstream.ExchangeCodeAsync(provider.ToEndpoint(), credentials, code, attempt.RedirectUri, verifier, ct);
        now = time.GetUtcNow();
        if (outcome is not UpstreamOutcome.Granted granted)
        {
            var reason = SafeText.Shorten($"{outcome.Kind}: {outcome.Detail}", Limits.Detail)!;
            account.CallFailed(reason, now);
            Record(db, http, time, account, AuditActions.AccountConnectFailed, outcome.Kind, reason, outcome.Status);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            LogNotConnected(logger, account.Name, outcome.Kind);
            return ConnectPage.ExchangeFailed(account.Name);
        }

        var tokens = granted.Tokens;
        account.Connected(secrets.Protect(SecretKind.AccessToken, tokens.AccessToken), tokens.TokenType, tokens.AccessExpiresAt,
            secrets.ProtectOrNull(SecretKind.RefreshToken, tokens.RefreshToken), tokens.RefreshExpiresAt, now);
        Record(db, http, time, account, AuditActions.AccountConnected, "ok", tokens.RefreshToken is null ? "no refresh token granted" : null,
            outcome.Status, hasher.Hash(tokens.AccessToken));
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        await caches.AccountChangedAsync(account.Name); // any instance holding an older token drops it
        LogConnected(logger, account.Name);
        return ConnectPage.Connected(account.Name);
    }

    /// <summary>The outcome and detail of a callback whose iss is not the provider's issuer, or null when it may go on.</summary>
    private static (string Outcome, string Detail)? IssuerProblem(Provider provider, string? iss)
    {
        if (string.IsNullOrEmpty(iss))
            return provider.IssuerRequired ? ("issuer_missing", "the callback carried no iss, which the provider requires (RFC 9207)") : null;
        if (provider.Issuer is null || string.Equals(iss, provider.Issuer, StringComparison.Ordinal)) return null;
        return ("issuer_mismatch", $"the callback's iss is not the provider's issuer (RFC 9207): {SafeText.Shorten(iss, 200)}");
    }

    private static IResult UnknownState(HttpContext http, RejectionAudit rejections)
    {
        rejections.Count(http, AuditActions.AccountConnectFailed, "expired, unknown or used state", outcome: "unknown_state");
        return ConnectPage.NoLongerValid();
    }

    // No API key on the callback: the row names no client, only the account and where the browser came from.
    private static void Record(BrokerDbContext db, HttpContext http, TimeProvider time, Account account, string action, string outcome,
        string? detail, int? upstreamStatus = null, string? tokenHmac = null) =>
        db.AuditEvents.Add(AuditRow.Of(time.GetUtcNow(), action, outcome, http.Caller(), account.Id, account.Name, account.Provider?.Name,
            detail, upstreamStatus, tokenHmac: tokenHmac));

    private sealed record UsedAttempt(Guid AccountId, Guid ProviderId, string VerifierEncrypted, string RedirectUri, byte[]? Binding);

    [LoggerMessage(Level = LogLevel.Information, Message = "Account {Account} connected")]
    private static partial void LogConnected(ILogger logger, string account);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Account {Account} not connected: {Outcome}")]
    private static partial void LogNotConnected(ILogger logger, string account, string outcome);

}

/// <summary>Where to send a person to consent, and until when the link works.</summary>
/// <param name="AuthorizationUrl">The upstream's authorization URL with the broker's state and PKCE challenge; open it in a browser.</param>
/// <param name="ExpiresAt">When the state expires (Broker:Connect:StateLifetime after the request).</param>
public sealed record ConnectResponse(string AuthorizationUrl, DateTimeOffset ExpiresAt);
