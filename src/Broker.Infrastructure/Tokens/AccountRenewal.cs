using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Observability;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Broker.Infrastructure.Upstream;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Broker.Infrastructure.Tokens;

/// <summary>
/// The locked half of handing out a token (docs/architecture.md, "Handing out a token"): a plain read; then the
/// account's row lock, under which the stored token set is read again, refreshed or replaced by a login, and
/// written back before the lock is released, with the refresh record (and its recovery), the state change, the
/// audit row of every upstream call and its metrics. <see cref="TokenIssuer"/> in front of it keeps the memory cache
/// and the single flight.
/// </summary>
public sealed partial class AccountRenewal(
    IDbContextFactory<BrokerDbContext> contexts,
    UpstreamClient upstream,
    UpstreamResilience resilience,
    SecretProtector secrets,
    TokenCache cache,
    CacheInvalidation changes,
    AuditHasher auditHasher,
    BrokerMetrics metrics,
    TimeProvider time,
    IOptions<TokenOptions> tokenOptions,
    IOptions<UpstreamOptions> upstreamOptions,
    RenewalDrain drain,
    RenewalGate gate,
    ILogger<AccountRenewal> logger)
{
    private readonly TokenOptions _options = tokenOptions.Value;

    /// <summary>
    /// Serves the stored token when it meets <paramref name="renewal"/>; otherwise takes the account's row lock
    /// (waiting for another instance that holds it) and renews under it.
    /// </summary>
    public async Task<TokenResult> LockAndRenewAsync(string name, Renewal renewal, Caller caller, CancellationToken ct)
    {
        var (result, again) = await LockAndRenewOnceAsync(name, renewal, caller, ct);
        // A resumed answer dated from its first attempt has too little left: it is stored (its refresh token is the
        // chain now), and refreshed again at once with the refresh token it brought.
        if (again) (result, _) = await LockAndRenewOnceAsync(name, new Renewal(TimeSpan.Zero), caller, ct);
        return result;
    }

    private async Task<(TokenResult Result, bool Again)> LockAndRenewOnceAsync(string name, Renewal renewal, Caller caller, CancellationToken ct)
    {
        try
        {
            await using var db = await contexts.CreateDbContextAsync(ct);

            // A plain read first: another instance may already hold a fresh token, and then no lock is needed.
            var snapshot = await ReadAsync(db, name, ct);
            if (snapshot is null) return (new TokenResult.NotFound(), false);
            if (ServeStored(snapshot, renewal) is { } early) return (early, false);

            // Past this point the renewal holds a connection until it is done: a bounded number at once (RenewalGate).
            using var slot = await gate.EnterAsync(ct);
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            // If this process hangs or dies while holding the lock, PostgreSQL ends the transaction and frees the row.
            await AccountLocks.SetTimeoutsAsync(db, _options.LockTimeout, upstreamOptions.Value.WorstCaseCall + _options.LockTimeout, ct);

            var lockWait = Stopwatch.StartNew();
            Account? account;
            using (BrokerTracing.StartLockWait())
                account = caller == Caller.AheadOfTime
                    ? await AccountLocks.TryLockAccountAsync(db, snapshot.Id, ct)
                    : await AccountLocks.LockAccountAsync(db, snapshot.Id, ct);
            // The plain read found the account, so an ahead-of-time refresh finding nothing found it locked: whoever
            // holds the lock renews it, and waiting for them would only hold a connection to learn what they stored.
            if (account is null) return (caller == Caller.AheadOfTime ? new TokenResult.Skipped() : new TokenResult.NotFound(), false);
            metrics.LockWaited(lockWait.Elapsed);
            var provider = account.Provider!;

            // Re-read under the lock: whoever held it before us may have refreshed already.
            if (ServeStored(StoredAccess.Of(account), renewal) is { } served)
            {
                await tx.CommitAsync(ct);
                return (served, false);
            }

            var hadToken = account.AccessTokenEncrypted is not null;
            var (result, again) = await RenewHoldingLockAsync(db, account, provider, caller, preferLogin: renewal.Force, ct);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);

            // A token replaced on demand (an admin's test), or dropped (credentials rejected, account inactive), may
            // be in other instances' memory: they must stop serving it. (An ordinary refresh needs no word: each
            // instance checks the expiry of what it holds.)
            if (renewal.Force || (hadToken && account.AccessTokenEncrypted is null)) await changes.AccountChangedAsync(name);
            if (result is TokenResult.Served fresh && !again)
                cache.Set(name, new CachedToken(account.Id, provider.Name, fresh.AccessToken, fresh.TokenType, fresh.ExpiresAt, fresh.TokenHmac, time.GetUtcNow(),
                    account.TokensObtainedAt, account.RefreshExpiresAt));
            else
                cache.Remove(name); // and a resumed answer with too little left is not served from memory meanwhile
            return (result, again);
        }
        catch (Exception e) when (DatabaseFaults.IsTransient(e) && !ct.IsCancellationRequested)
        {
            LogDatabaseFault(e, name);
            return (new TokenResult.Failed(Guid.Empty, "", TokenFailure.DatabaseUnavailable,
                e is PostgresException { SqlState: PostgresErrorCodes.LockNotAvailable } ? RenewalFailures.LockHeldTooLong : RenewalFailures.DatabaseUnavailable,
                _options.RetryAfter), false);
        }
    }

    /// <summary>
    /// A caller says the upstream refused the token we gave it. Drop it, but only while it is still the current
    /// token (or, when the caller did not say which, unless it was obtained a moment ago): many callers reporting
    /// the same token must cause one refresh, not one each. Returns null for an unknown account.
    /// </summary>
    public async Task<bool?> DropRejectedAsync(string name, string? rejectedToken, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await AccountLocks.SetTimeoutsAsync(db, _options.LockTimeout, idleTimeout: null, ct);
        var account = await AccountLocks.LockAccountAsync(db, name, ct);
        if (account is null) return null;

        var now = time.GetUtcNow();
        var current = account.AccessTokenEncrypted is null ? null : secrets.Unprotect(SecretKind.AccessToken, account.AccessTokenEncrypted);
        var isCurrent = current is not null && (rejectedToken is null
            ? !TokenPolicy.IsBestAvailable(account.TokensObtainedAt, account.AccessExpiresAt, now, _options.FreshTokenWindow)
            : CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(current), Encoding.UTF8.GetBytes(rejectedToken)));
        if (isCurrent)
        {
            account.DropAccessToken(now);
            await db.SaveChangesAsync(ct);
        }
        await tx.CommitAsync(ct);
        if (isCurrent) await changes.AccountChangedAsync(name); // every instance, not only this one, must stop serving it
        return isCurrent;
    }

    /// <summary>
    /// Runs the token path's queries once against an account that does not exist, at start-up: compiling them (EF
    /// query compilation, JIT) takes a few hundred milliseconds on a small machine, and the first refresh storm an
    /// instance sees must not pay for that while it holds an account's lock and every other instance waits.
    /// </summary>
    public async Task WarmUpAsync(CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        await ReadAsync(db, "", ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await AccountLocks.SetTimeoutsAsync(db, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), ct);
        await AccountLocks.LockAccountAsync(db, Guid.Empty, ct);
        await tx.CommitAsync(ct);
        secrets.Unprotect(SecretKind.AccessToken, secrets.Protect(SecretKind.AccessToken, "warm-up"));
        auditHasher.Hash("warm-up");
    }

    /// <summary>
    /// The plain read before any lock: only what deciding whether the stored token serves needs, so a miss does not
    /// load (or keep in memory) the account's credentials and refresh token.
    /// </summary>
    private static Task<StoredAccess?> ReadAsync(BrokerDbContext db, string name, CancellationToken ct) =>
        db.Accounts.AsNoTracking().Where(a => a.Name == name)
            .Select(a => new StoredAccess(a.Id, a.Name, a.State, a.Provider!.Name, a.AccessTokenEncrypted, a.AccessExpiresAt, a.TokensObtainedAt,
                a.RefreshExpiresAt, a.TokenType))
            .FirstOrDefaultAsync(ct);

    /// <summary>The stored token, decrypted and put in the memory cache, when it meets the renewal's terms; null when it must be renewed.</summary>
    private TokenResult.Served? ServeStored(StoredAccess account, Renewal renewal)
    {
        var now = time.GetUtcNow();
        if (account.State != AccountState.Active || account.AccessTokenEncrypted is null || renewal.Force) return null;
        var goodEnough = renewal.UnlessObtainedAfter is { } observed
            ? account.TokensObtainedAt > observed && TokenPolicy.IsUsable(account.AccessExpiresAt, now, TimeSpan.Zero, _options.ClockSkew)
            : TokenPolicy.Serves(account.AccessExpiresAt, account.TokensObtainedAt, now, renewal.MinValidity, _options.ClockSkew, _options.FreshTokenWindow);
        if (!goodEnough) return null;

        var served = StoredToken(account);
        cache.Set(account.Name, new CachedToken(account.Id, served.ProviderName, served.AccessToken, served.TokenType, served.ExpiresAt, served.TokenHmac, now,
            account.TokensObtainedAt, account.RefreshExpiresAt));
        return served;
    }

    /// <summary>
    /// Holding the row lock: refresh, or log in, or say why neither is possible. <paramref name="preferLogin"/> (an
    /// admin's test) logs in an account that can; one that cannot (refresh-only, or connected in a browser) is
    /// tested by a refresh.
    /// </summary>
    /// <returns>What to answer, and whether to renew again at once (a resumed answer with too little left).</returns>
    private async Task<(TokenResult Result, bool Again)> RenewHoldingLockAsync(BrokerDbContext db, Account account, Provider provider, Caller caller,
        bool preferLogin, CancellationToken ct)
    {
        if (account.State != AccountState.Active) return (Blocked(account, provider), false);
        // An account without what its dialect logs in with (a refresh-only account, or secrets cleared by an admin's
        // change of destination, docs/providers.md) is never sent upstream to log in: it lives on its refresh token.
        var canLogIn = CredentialRules.CanLogIn(account, provider);
        var canRefresh = TokenPolicy.CanRefresh(account.StoredTokens(provider.Dialect), time.GetUtcNow(), _options.ClockSkew);
        var step = TokenPolicy.FirstStep(canLogIn, canRefresh, preferLogin);
        if (step == RenewalStep.None)
            return (!provider.Dialect.LogsIn() && account.RefreshTokenEncrypted is null ? NotConnected(account, provider) : CannotRenew(account, provider), false);

        var endpoint = provider.ToEndpoint();
        var credentials = UpstreamCredentials.For(account, provider, secrets);

        if (step == RenewalStep.Refresh)
        {
            var refreshToken = secrets.Unprotect(SecretKind.RefreshToken, account.RefreshTokenEncrypted!);
            var (recovery, interrupted, firstStarted) = await RecoverAsync(db, account, provider, refreshToken, canLogIn, caller, ct);
            if (recovery == RecoveryStep.ReconnectRequired) return (Reconnect(account, provider, interrupted!), false);
            if (recovery != RecoveryStep.LogIn)
            {
                if (drain.Stopping) return (ShuttingDown(account, provider), false);
                var sentAt = time.GetUtcNow();
                var refreshed = await RefreshAsync(db, account, provider, endpoint, credentials, refreshToken, caller, ct);
                if (refreshed is UpstreamOutcome.Granted granted)
                {
                    if (recovery != RecoveryStep.RetryWithinGrace) return (Store(account, provider, granted.Tokens, refreshed: true), false);
                    // Within its grace an upstream may answer a resent token with what it issued for the first
                    // attempt, its expires_in counted as if new (django-oauth-toolkit does): the lifetime runs from
                    // when that attempt began, unless the token itself says when it ends (a JWT's exp).
                    var tokens = TokenPolicy.DatedFromFirstAttempt(granted.Tokens, Jwt.TryReadExpiry(granted.Tokens.AccessToken), firstStarted!.Value, sentAt);
                    var stored = Store(account, provider, tokens, refreshed: true);
                    var tooShort = !TokenPolicy.IsUsable(tokens.AccessExpiresAt, time.GetUtcNow(), TimeSpan.Zero, _options.ClockSkew);
                    return (tooShort ? (TokenResult?)StillValid(account) ?? stored : stored, tooShort);
                }
                switch (TokenPolicy.AfterRefreshFailed(refreshed, canLogIn))
                {
                    case RefreshFallback.ReconnectRequired:
                        return (Reconnect(account, provider, RenewalFailures.RefreshRefused(refreshed, provider)), false);
                    case RefreshFallback.Fail:
                        return (Fail(account, provider, refreshed), false);
                    case RefreshFallback.LogIn:
                        break; // a refused token is spent; one whose refresh failed midway may be: never replay it
                }
            }
        }

        // Every way here (the first step, a lost answer's recovery, a failed refresh's fallback) chooses a login only
        // for an account that can log in; sending one for an account without its credentials must never happen.
        if (!canLogIn) throw new UnreachableException($"a login was chosen for account {account.Name}, which cannot log in");
        if (drain.Stopping) return (ShuttingDown(account, provider), false);
        var loggedIn = await CallAsync(db, account, provider, caller, AuditActions.TokenObtained,
            () => resilience.LogInAsync(provider.Id, provider.Name, token => upstream.LogInAsync(endpoint, credentials, token), ct));
        return (loggedIn is UpstreamOutcome.Granted login
            ? Store(account, provider, login.Tokens, refreshed: false)
            : Fail(account, provider, loggedIn), false);
    }

    /// <summary>
    /// A refresh, recorded as begun (and committed) before it is sent and as over in the transaction that stores its
    /// answer: a process that dies in between leaves the record for the next holder of the lock (<see cref="RecoverAsync"/>).
    /// </summary>
    private async Task<UpstreamOutcome> RefreshAsync(BrokerDbContext db, Account account, Provider provider, ProviderEndpoint endpoint,
        AccountCredentials credentials, string refreshToken, Caller caller, CancellationToken ct)
    {
        await RefreshAttempts.BeginAsync(contexts, account.Id, RefreshAttempt.Hash(refreshToken), time.GetUtcNow(), ct);
        var outcome = await CallAsync(db, account, provider, caller, AuditActions.TokenRefreshed,
            () => resilience.RefreshAsync(provider.Id, provider.Name, token => upstream.RefreshAsync(endpoint, credentials, refreshToken, token), ct));
        // An answer came, whatever it says: nothing is lost any more.
        await RefreshAttempts.EndAsync(db, account.Id, ct);
        return outcome;
    }

    /// <summary>
    /// A refresh with the stored token was begun and its answer never stored (the process holding the lock died): the
    /// upstream may have rotated the token. Sent again only within the provider's reuse grace; otherwise the account
    /// logs in, or, when it cannot, needs a person (docs/architecture.md, "Crash safety"). Audited as token.refresh_resumed.
    /// </summary>
    private async Task<(RecoveryStep Step, string? Detail, DateTimeOffset? FirstStarted)> RecoverAsync(BrokerDbContext db, Account account, Provider provider, string refreshToken, bool canLogIn,
        Caller caller, CancellationToken ct)
    {
        var attempt = await RefreshAttempts.UnfinishedAsync(db, account.Id, ct);
        var now = time.GetUtcNow();
        var step = RefreshRecovery.Decide(attempt, RefreshAttempt.Hash(refreshToken), provider.RefreshReuseGrace, canLogIn, now);
        if (step == RecoveryStep.Refresh) return (step, null, null); // a record of an older token is overwritten by the refresh

        var detail = RenewalFailures.Interrupted(attempt!, provider, step);
        LogRefreshResumed(account.Name, step);
        var resumed = AuditRow.Of(now, AuditActions.TokenRefreshResumed, JsonNamingPolicy.SnakeCaseLower.ConvertName(step.ToString()),
            caller, account.Id, account.Name, provider.Name, detail);
        if (step == RecoveryStep.RetryWithinGrace)
        {
            // Committed before the token is sent again, like the refresh record: should this process die during the
            // resend too, the trail still shows every time the token was sent.
            await using var own = await contexts.CreateDbContextAsync(ct);
            own.AuditEvents.Add(resumed);
            await own.SaveChangesAsync(ct);
            return (step, detail, attempt!.StartedAt); // the retry's own record replaces this one
        }
        // The token is given up, and the record with it.
        db.AuditEvents.Add(resumed);
        await RefreshAttempts.EndAsync(db, account.Id, ct);
        return (step, detail, attempt!.StartedAt);
    }

    private async Task<UpstreamOutcome> CallAsync(BrokerDbContext db, Account account, Provider provider, Caller caller, string action, Func<Task<UpstreamOutcome>> call)
    {
        var kind = action == AuditActions.TokenRefreshed ? "refresh" : "login";
        using var activity = BrokerTracing.StartUpstreamCall(kind, provider.Dialect.ToName(), provider.Name);
        var started = Stopwatch.StartNew();
        var outcome = await call();
        var elapsed = started.Elapsed;
        BrokerTracing.UpstreamCallEnded(activity, outcome.Kind, outcome.Status, succeeded: outcome is UpstreamOutcome.Granted);
        metrics.UpstreamCall(provider.Dialect.ToName(), kind, outcome.Kind, elapsed);
        LogUpstreamCall(account.Name, kind, outcome.Kind, outcome.Status, (long)elapsed.TotalMilliseconds);
        db.AuditEvents.Add(AuditRow.Of(time.GetUtcNow(), action, outcome.Kind, caller, account.Id, account.Name, provider.Name,
            detail: outcome is UpstreamOutcome.Granted ? null : RenewalFailures.Shorten(outcome.Detail),
            upstreamStatus: outcome.Status, upstreamMs: (int)elapsed.TotalMilliseconds,
            // The hash of the new access token ties the token.served events of this token to the call that got it.
            tokenHmac: outcome is UpstreamOutcome.Granted granted ? auditHasher.Hash(granted.Tokens.AccessToken) : null));
        return outcome;
    }

    private TokenResult Store(Account account, Provider provider, TokenSet tokens, bool refreshed)
    {
        var now = time.GetUtcNow();
        var accessToken = secrets.Protect(SecretKind.AccessToken, tokens.AccessToken);
        var refreshToken = secrets.ProtectOrNull(SecretKind.RefreshToken, tokens.RefreshToken);
        if (refreshed)
            account.Refreshed(accessToken, tokens.TokenType, tokens.AccessExpiresAt, refreshToken, tokens.RefreshExpiresAt, now);
        else
            account.LoggedIn(accessToken, tokens.TokenType, tokens.AccessExpiresAt, refreshToken, tokens.RefreshExpiresAt, now);
        return new TokenResult.Served(account.Id, provider.Name, tokens.AccessToken, tokens.TokenType, tokens.AccessExpiresAt,
            auditHasher.Hash(tokens.AccessToken), FromCache: false);
    }

    private TokenResult Fail(Account account, Provider provider, UpstreamOutcome outcome)
    {
        var now = time.GetUtcNow();
        var reason = RenewalFailures.CallFailed(outcome);
        switch (outcome)
        {
            case UpstreamOutcome.CredentialsRejected:
                account.CredentialsRejected(reason, now, keepRefreshToken: !CredentialRules.CanLogIn(account, provider));
                return new TokenResult.Failed(account.Id, provider.Name, TokenFailure.NeedsAttention, outcome.Detail) { Attention = account.AttentionReason };
            case UpstreamOutcome.AccountInactive:
                account.BecameInactive(reason, now);
                return new TokenResult.Failed(account.Id, provider.Name, TokenFailure.Inactive, outcome.Detail);
            case UpstreamOutcome.Unavailable unavailable:
                account.CallFailed(reason, now);
                // Still valid, though not for as long as asked: better than nothing while the upstream is down.
                if (StillValid(account) is { } fallback) return fallback;
                return new TokenResult.Failed(account.Id, provider.Name,
                    unavailable.TimedOut ? TokenFailure.UpstreamTimeout : TokenFailure.UpstreamUnavailable,
                    outcome.Detail, unavailable.RetryAfter ?? _options.RetryAfter);
            case UpstreamOutcome.DestinationRefused:
                account.CallFailed(reason, now);
                return new TokenResult.Failed(account.Id, provider.Name, TokenFailure.UpstreamDestinationRefused, outcome.Detail);
            default:
                account.CallFailed(reason, now);
                if (StillValid(account) is { } stillValid) return stillValid;
                return new TokenResult.Failed(account.Id, provider.Name,
                    outcome is UpstreamOutcome.EndpointNotFound ? TokenFailure.UpstreamEndpointNotFound : TokenFailure.UpstreamProtocolError, outcome.Detail);
        }
    }

    private TokenResult.Served? StillValid(Account account) =>
        account.AccessTokenEncrypted is not null && TokenPolicy.IsUsable(account.AccessExpiresAt, time.GetUtcNow(), TimeSpan.Zero, _options.ClockSkew)
            ? StoredToken(StoredAccess.Of(account))
            : null;

    /// <summary>The account's stored access token, decrypted (the caller has checked there is one).</summary>
    private TokenResult.Served StoredToken(StoredAccess account)
    {
        var accessToken = secrets.Unprotect(SecretKind.AccessToken, account.AccessTokenEncrypted!);
        return new TokenResult.Served(account.Id, account.ProviderName, accessToken, account.TokenType ?? "Bearer",
            account.AccessExpiresAt!.Value, auditHasher.Hash(accessToken), FromCache: false);
    }

    private static TokenResult Blocked(Account account, Provider provider) => account.State == AccountState.Inactive
        ? new TokenResult.Failed(account.Id, provider.Name, TokenFailure.Inactive, account.LastError ?? RenewalFailures.Inactive)
        : new TokenResult.Failed(account.Id, provider.Name, TokenFailure.NeedsAttention, account.LastError ?? RenewalFailures.NeedsAttention)
        {
            Attention = account.AttentionReason,
        };

    /// <summary>
    /// Neither a login nor a refresh is possible: what the dialect logs in with is not stored, and there is no refresh
    /// token that is still alive.
    /// </summary>
    private TokenResult CannotRenew(Account account, Provider provider)
    {
        var missing = CredentialRules.Missing(account, provider).ToList();
        if (account.RefreshTokenEncrypted is not null)
            return Reconnect(account, provider, RenewalFailures.RefreshTokenExpired(provider, missing));
        var reason = RenewalFailures.SecretsMissing(provider, missing);
        account.NeedsSecrets(reason, time.GetUtcNow());
        return new TokenResult.Failed(account.Id, provider.Name, TokenFailure.NeedsAttention, reason) { Attention = account.AttentionReason };
    }

    /// <summary>
    /// The instance is stopping (SIGTERM): it sends nothing new upstream, so a refresh it sent is never cut short by
    /// the end of the process; the stored token set is untouched and another instance answers the retry.
    /// </summary>
    private TokenResult ShuttingDown(Account account, Provider provider) =>
        (TokenResult?)StillValid(account) ?? new TokenResult.Failed(account.Id, provider.Name, TokenFailure.UpstreamUnavailable, RenewalFailures.ShuttingDown, _options.RetryAfter);

    /// <summary>An account of a dialect without a login (authorization code) that was never connected, or whose tokens were dropped.</summary>
    private TokenResult NotConnected(Account account, Provider provider)
    {
        account.NotConnected(RenewalFailures.NotConnected, time.GetUtcNow());
        return new TokenResult.Failed(account.Id, provider.Name, TokenFailure.NotConnected, RenewalFailures.NotConnected);
    }

    /// <summary>The account's refresh token is dead, or may be, and it cannot log in by itself: a person must act.</summary>
    private TokenResult Reconnect(Account account, Provider provider, string reason)
    {
        account.ReconnectRequired(reason, time.GetUtcNow());
        return new TokenResult.Failed(account.Id, provider.Name, TokenFailure.NeedsAttention, reason) { Attention = account.AttentionReason };
    }

    /// <summary>An account's stored access token and what decides whether it serves: never its credentials.</summary>
    private sealed record StoredAccess(Guid Id, string Name, AccountState State, string ProviderName, string? AccessTokenEncrypted,
        DateTimeOffset? AccessExpiresAt, DateTimeOffset? TokensObtainedAt, DateTimeOffset? RefreshExpiresAt, string? TokenType)
    {
        public static StoredAccess Of(Account account) => new(account.Id, account.Name, account.State, account.Provider?.Name ?? "",
            account.AccessTokenEncrypted, account.AccessExpiresAt, account.TokensObtainedAt, account.RefreshExpiresAt, account.TokenType);

        public override string ToString() => $"StoredAccess {{ Name = {Name}, State = {State}, AccessExpiresAt = {AccessExpiresAt:O} }}";
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Upstream {Kind} for account {Account}: {Outcome} (status {Status}, {ElapsedMs} ms)")]
    private partial void LogUpstreamCall(string account, string kind, string outcome, int? status, long elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A refresh of account {Account} was interrupted before its answer was stored; next: {Step}")]
    private partial void LogRefreshResumed(string account, RecoveryStep step);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Database fault while fetching a token for account {Account}")]
    private partial void LogDatabaseFault(Exception exception, string account);
}

/// <summary>
/// When the stored token must be replaced: it does not meet MinValidity; always (Force: an admin's test, which logs
/// in an account that can); or it is still the one obtained at UnlessObtainedAfter (ahead-of-time refresh).
/// </summary>
public sealed record Renewal(TimeSpan MinValidity, bool Force = false, DateTimeOffset? UnlessObtainedAfter = null);
