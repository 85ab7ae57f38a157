using System.Collections.Concurrent;
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
/// Hands out a currently valid access token for an account (docs/architecture.md, "Handing out a token"): memory first;
/// on a miss one in-flight task per account and instance; across instances the account's row lock, under which
/// the stored token set is read again, refreshed or replaced by a login, and written back before the lock is
/// released. Every upstream call is recorded in the same transaction.
/// </summary>
public sealed partial class TokenIssuer(
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
    ILogger<TokenIssuer> logger)
{
    private readonly ConcurrentDictionary<FlightKey, Lazy<Task<TokenResult>>> _inFlight = new();
    private readonly ConcurrentDictionary<string, long> _lastUsedTicks = new(StringComparer.Ordinal);
    private readonly TokenOptions _options = tokenOptions.Value;

    public async ValueTask<TokenResult> GetTokenAsync(string account, TimeSpan minValidity, Caller caller, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        // Written at most once a second per account: a dictionary write takes a lock, a read does not.
        if (!_lastUsedTicks.TryGetValue(account, out var lastUsed) || now.UtcTicks - lastUsed >= TimeSpan.TicksPerSecond)
            _lastUsedTicks[account] = now.UtcTicks;
        if (cache.TryGet(account, out var cached) && now - cached.CachedAt < _options.MemoryCacheMaxAge &&
            TokenPolicy.Serves(cached.ExpiresAt, cached.ObtainedAt, now, minValidity, _options.ClockSkew, _options.FreshTokenWindow))
            return new TokenResult.Served(cached.AccountId, cached.ProviderName, cached.AccessToken, cached.TokenType, cached.ExpiresAt, cached.TokenHmac, FromCache: true);

        // Single flight: concurrent misses share one task. It runs detached from any one caller's cancellation,
        // so a caller that gives up does not abort the upstream call the others wait on.
        var key = new FlightKey(account, TokenPolicy.FlightMinValidity(minValidity));
        // The audit trail names the caller whose miss started the upstream call.
        var flight = _inFlight.GetOrAdd(key, static (k, state) => new Lazy<Task<TokenResult>>(() => state.Issuer.RunFlightAsync(k, state.Caller)),
            (Issuer: this, Caller: caller));
        return await flight.Value.WaitAsync(ct);
    }

    /// <summary>Forces the next fetch to refresh, under the lock (an admin "test" or a reported rejection).</summary>
    public async Task<TokenResult> RenewAsync(string account, Caller caller, bool loginOnly, CancellationToken ct)
    {
        cache.Remove(account);
        return await FetchAsync(account, new Renewal(TimeSpan.Zero, Force: true, LoginOnly: loginOnly), caller, ct);
    }

    /// <summary>
    /// Ahead-of-time refresh: renew the token obtained at <paramref name="obtainedAt"/>, unless someone (another
    /// instance, a caller) already replaced it by the time we hold the lock.
    /// </summary>
    public Task<TokenResult> RefreshAheadAsync(string account, DateTimeOffset? obtainedAt, CancellationToken ct) =>
        FetchAsync(account, new Renewal(TimeSpan.Zero, UnlessObtainedAfter: obtainedAt ?? DateTimeOffset.MinValue), Caller.AheadOfTime, ct);

    /// <summary>The accounts this instance served since <paramref name="since"/>: the ones worth keeping warm.</summary>
    public IReadOnlyList<string> UsedSince(DateTimeOffset since) =>
        _lastUsedTicks.Where(u => u.Value >= since.UtcTicks).Select(u => u.Key).ToList();

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

    private async Task<TokenResult> RunFlightAsync(FlightKey key, Caller caller)
    {
        try
        {
            return await FetchAsync(key.Account, new Renewal(key.MinValidity), caller, CancellationToken.None);
        }
        finally
        {
            _inFlight.TryRemove(key, out _);
        }
    }

    private async Task<TokenResult> FetchAsync(string name, Renewal renewal, Caller caller, CancellationToken ct)
    {
        using var activity = BrokerTracing.StartFetch(name);
        var result = await FetchLockedAsync(name, renewal, caller, ct);
        BrokerTracing.FetchEnded(activity, result switch
        {
            TokenResult.Served => "served",
            TokenResult.Failed failed => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(failed.Failure.ToString()),
            _ => "not_found",
        }, succeeded: result is not TokenResult.Failed);
        return result;
    }

    private async Task<TokenResult> FetchLockedAsync(string name, Renewal renewal, Caller caller, CancellationToken ct)
    {
        try
        {
            await using var db = await contexts.CreateDbContextAsync(ct);

            // A plain read first: another instance may already hold a fresh token, and then no lock is needed.
            var snapshot = await ReadAsync(db, name, ct);
            if (snapshot is null) return new TokenResult.NotFound();
            if (Serves(snapshot, renewal) is { } early) return early;

            await using var tx = await db.Database.BeginTransactionAsync(ct);
            // If this process hangs or dies while holding the lock, PostgreSQL ends the transaction and frees the row.
            await AccountLocks.SetTimeoutsAsync(db, _options.LockTimeout, upstreamOptions.Value.WorstCaseCall + _options.LockTimeout, ct);

            var lockWait = Stopwatch.StartNew();
            Account? account;
            using (BrokerTracing.StartLockWait()) account = await AccountLocks.LockAccountAsync(db, snapshot.Id, ct);
            if (account is null) return new TokenResult.NotFound();
            metrics.LockWaited(lockWait.Elapsed);
            var provider = account.Provider!;

            // Re-read under the lock: whoever held it before us may have refreshed already.
            if (Serves(StoredAccess.Of(account), renewal) is { } served)
            {
                await tx.CommitAsync(ct);
                return served;
            }

            var hadToken = account.AccessTokenEncrypted is not null;
            var result = await RenewLockedAsync(db, account, provider, caller, renewal.LoginOnly, ct);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);

            // A token replaced on demand (an admin's test), or dropped (credentials rejected, account inactive), may
            // be in other instances' memory: they must stop serving it. (An ordinary refresh needs no word: each
            // instance checks the expiry of what it holds.)
            if (renewal.Force || (hadToken && account.AccessTokenEncrypted is null)) await changes.AccountChangedAsync(name);
            if (result is TokenResult.Served fresh)
                cache.Set(name, new CachedToken(account.Id, provider.Name, fresh.AccessToken, fresh.TokenType, fresh.ExpiresAt, fresh.TokenHmac, time.GetUtcNow(), account.TokensObtainedAt));
            else
                cache.Remove(name);
            return result;
        }
        catch (Exception e) when (IsDatabaseFault(e) && !ct.IsCancellationRequested)
        {
            LogDatabaseFault(e, name);
            return new TokenResult.Failed(Guid.Empty, "", TokenFailure.DatabaseUnavailable,
                e is PostgresException { SqlState: PostgresErrorCodes.LockNotAvailable }
                    ? "another instance held the account's lock too long"
                    : "the database is unavailable",
                _options.RetryAfter);
        }
    }

    /// <summary>
    /// The plain read before any lock: only what deciding whether the stored token serves needs, so a miss does not
    /// load (or keep in memory) the account's credentials and refresh token.
    /// </summary>
    private static Task<StoredAccess?> ReadAsync(BrokerDbContext db, string name, CancellationToken ct) =>
        db.Accounts.AsNoTracking().Where(a => a.Name == name)
            .Select(a => new StoredAccess(a.Id, a.Name, a.State, a.Provider!.Name, a.AccessTokenEncrypted, a.AccessExpiresAt, a.TokensObtainedAt, a.TokenType))
            .FirstOrDefaultAsync(ct);

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

    /// <summary>The stored token when it serves this request (also caching it), or null when it must be renewed.</summary>
    private TokenResult.Served? Serves(StoredAccess account, Renewal renewal)
    {
        var now = time.GetUtcNow();
        if (account.State != AccountState.Active || account.AccessTokenEncrypted is null || renewal.Force) return null;
        var goodEnough = renewal.UnlessObtainedAfter is { } observed
            ? account.TokensObtainedAt > observed && TokenPolicy.IsUsable(account.AccessExpiresAt, now, TimeSpan.Zero, _options.ClockSkew)
            : TokenPolicy.Serves(account.AccessExpiresAt, account.TokensObtainedAt, now, renewal.MinValidity, _options.ClockSkew, _options.FreshTokenWindow);
        if (!goodEnough) return null;

        var served = StoredToken(account);
        cache.Set(account.Name, new CachedToken(account.Id, served.ProviderName, served.AccessToken, served.TokenType, served.ExpiresAt, served.TokenHmac, now, account.TokensObtainedAt));
        return served;
    }

    private async Task<TokenResult> RenewLockedAsync(BrokerDbContext db, Account account, Provider provider, Caller caller, bool forceLogin, CancellationToken ct)
    {
        if (account.State != AccountState.Active) return Blocked(account, provider);
        // An account without what its dialect logs in with (a refresh-only account, or secrets cleared by an admin's
        // change of destination, docs/providers.md) is never sent upstream to log in: it lives on its refresh token.
        var canLogIn = CredentialRules.CanLogIn(account, provider);
        var canRefresh = TokenPolicy.CanRefresh(account.StoredTokens(provider.Dialect), time.GetUtcNow(), _options.ClockSkew);
        if (!canLogIn && !canRefresh)
            return !provider.Dialect.LogsIn() && account.RefreshTokenEncrypted is null ? NotConnected(account, provider) : CannotRenew(account, provider);

        var endpoint = provider.ToEndpoint();
        var credentials = Credentials(account, provider);

        // An admin's test logs in, but an account that cannot log in (refresh-only, or connected in a browser) is tested by a refresh.
        if (canRefresh && (!forceLogin || !canLogIn))
        {
            var refreshToken = secrets.Unprotect(SecretKind.RefreshToken, account.RefreshTokenEncrypted!);
            var (step, interrupted) = await RecoverAsync(db, account, provider, refreshToken, canLogIn, caller, ct);
            if (step == RecoveryStep.ReconnectRequired) return Reconnect(account, provider, interrupted!);
            if (step != RecoveryStep.LogIn)
            {
                var refreshed = await RefreshAsync(db, account, provider, endpoint, credentials, refreshToken, caller, ct);
                switch (refreshed)
                {
                    case UpstreamOutcome.Granted granted:
                        return Store(account, provider, granted.Tokens, refreshed: true);
                    case UpstreamOutcome.RefreshRejected when !canLogIn:
                        return Reconnect(account, provider, $"the upstream refused the refresh token ({refreshed.Detail}) and the account " +
                                                            $"cannot log in by itself: {WayBack(provider)}");
                    case UpstreamOutcome.Unavailable when !canLogIn:
                        return Fail(account, provider, refreshed); // says nothing of the token: it is kept, and tried again next time
                    case UpstreamOutcome.RefreshRejected:
                        break; // used, expired or revoked: log in below
                    case UpstreamOutcome.Unavailable:
                        break; // a refresh that failed midway may have spent the token: never replay it, log in
                    default:
                        return Fail(account, provider, refreshed);
                }
            }
        }

        // Only an account that can log in gets here: one that cannot has refreshed, or failed, above.
        var loggedIn = await CallAsync(db, account, provider, caller, AuditActions.TokenObtained,
            () => resilience.LogInAsync(provider.Id, provider.Name, token => upstream.LogInAsync(endpoint, credentials, token), ct));
        return loggedIn is UpstreamOutcome.Granted login
            ? Store(account, provider, login.Tokens, refreshed: false)
            : Fail(account, provider, loggedIn);
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
    private async Task<(RecoveryStep Step, string? Detail)> RecoverAsync(BrokerDbContext db, Account account, Provider provider, string refreshToken, bool canLogIn,
        Caller caller, CancellationToken ct)
    {
        var attempt = await RefreshAttempts.UnfinishedAsync(db, account.Id, ct);
        var now = time.GetUtcNow();
        var step = RefreshRecovery.Decide(attempt, RefreshAttempt.Hash(refreshToken), provider.RefreshReuseGrace, canLogIn, now);
        if (step == RecoveryStep.Refresh) return (step, null); // a record of an older token is overwritten by the refresh

        var grace = provider.RefreshReuseGraceSeconds is { } seconds
            ? $"the provider's reuse grace of {seconds} s {(step == RecoveryStep.RetryWithinGrace ? "still runs" : "has passed")}"
            : "the provider has no reuse grace (refresh_reuse_grace_seconds)";
        var detail = $"a refresh begun at {attempt!.StartedAt:O} was interrupted before its answer was stored, and {grace}: " + step switch
        {
            RecoveryStep.RetryWithinGrace => "sending the same refresh token again",
            RecoveryStep.LogIn => "the refresh token may be spent; logging in instead",
            _ => $"the refresh token may be spent and the account cannot log in by itself; {WayBack(provider)}",
        };
        LogRefreshResumed(account.Name, step);
        db.AuditEvents.Add(new AuditEvent
        {
            At = now, Action = AuditActions.TokenRefreshResumed,
            Outcome = JsonNamingPolicy.SnakeCaseLower.ConvertName(step.ToString()),
            ClientId = caller.ClientId, ClientName = caller.ClientName,
            AccountId = account.Id, AccountName = account.Name, ProviderName = provider.Name,
            Detail = Truncate(detail), RequestId = caller.RequestId, RemoteIp = caller.RemoteIp,
        });
        // A retry's own record replaces this one; otherwise the token is given up, and the record with it.
        if (step != RecoveryStep.RetryWithinGrace) await RefreshAttempts.EndAsync(db, account.Id, ct);
        return (step, detail);
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
        db.AuditEvents.Add(new AuditEvent
        {
            At = time.GetUtcNow(), Action = action, Outcome = outcome.Kind,
            ClientId = caller.ClientId, ClientName = caller.ClientName,
            AccountId = account.Id, AccountName = account.Name, ProviderName = provider.Name,
            UpstreamStatus = outcome.Status, UpstreamMs = (int)elapsed.TotalMilliseconds,
            Detail = outcome is UpstreamOutcome.Granted ? null : Truncate(outcome.Detail),
            RequestId = caller.RequestId, RemoteIp = caller.RemoteIp,
            // The hash of the new access token ties the token.served events of this token to the call that got it.
            TokenHmac = outcome is UpstreamOutcome.Granted granted ? auditHasher.Hash(granted.Tokens.AccessToken) : null,
        });
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
        var reason = Truncate($"{outcome.Kind}: {outcome.Detail}");
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
        ? new TokenResult.Failed(account.Id, provider.Name, TokenFailure.Inactive, account.LastError ?? "the account is inactive upstream")
        : new TokenResult.Failed(account.Id, provider.Name, TokenFailure.NeedsAttention, account.LastError ?? "the account's credentials need attention")
        {
            Attention = account.AttentionReason,
        };

    /// <summary>
    /// Neither a login nor a refresh is possible: what the dialect logs in with is not stored, and there is no refresh
    /// token that is still alive.
    /// </summary>
    private TokenResult CannotRenew(Account account, Provider provider)
    {
        var missing = string.Join(", ", CredentialRules.Missing(account, provider));
        if (account.RefreshTokenEncrypted is not null)
            return Reconnect(account, provider, "the refresh token has expired and the account cannot log in by itself " +
                                                (provider.Dialect.LogsIn() ? $"(no {missing} stored)" : $"(the {provider.Dialect.ToName()} dialect has no login)") +
                                                $": {WayBack(provider)}");
        var reason = Truncate($"no {missing} stored, which the {provider.Dialect.ToName()} dialect needs: an admin must enter it" +
                              (provider.Dialect.CanRefresh() ? ", or import a refresh token" : ""));
        account.NeedsSecrets(reason, time.GetUtcNow());
        return new TokenResult.Failed(account.Id, provider.Name, TokenFailure.NeedsAttention, reason) { Attention = account.AttentionReason };
    }

    /// <summary>What brings back an account whose refresh token is dead and that cannot log in by itself.</summary>
    private static string WayBack(Provider provider) => provider.Dialect.LogsIn()
        ? "a person must consent again and an admin import the new refresh token"
        : "an admin must connect the account again (POST /admin/accounts/{name}/connect)";

    /// <summary>An account of a dialect without a login (authorization code) that was never connected, or whose tokens were dropped.</summary>
    private TokenResult NotConnected(Account account, Provider provider)
    {
        const string reason = "not connected: no usable refresh token, and the broker cannot log in by itself; an admin must connect the account (POST /admin/accounts/{name}/connect)";
        account.NotConnected(reason, time.GetUtcNow());
        return new TokenResult.Failed(account.Id, provider.Name, TokenFailure.NotConnected, reason);
    }

    /// <summary>The account's refresh token is dead, or may be, and it cannot log in by itself: a person must act.</summary>
    private TokenResult Reconnect(Account account, Provider provider, string reason)
    {
        reason = Truncate(reason);
        account.ReconnectRequired(reason, time.GetUtcNow());
        return new TokenResult.Failed(account.Id, provider.Name, TokenFailure.NeedsAttention, reason) { Attention = account.AttentionReason };
    }

    private AccountCredentials Credentials(Account account, Provider provider) => new(
        account.Username,
        secrets.UnprotectOrNull(SecretKind.Password, account.PasswordEncrypted),
        account.OrgName,
        account.ClientId ?? provider.ClientId,
        secrets.UnprotectOrNull(SecretKind.ClientSecret, account.ClientSecretEncrypted ?? provider.ClientSecretEncrypted),
        account.Scope ?? provider.Scope);

    private static bool IsDatabaseFault(Exception e) => DatabaseFaults.IsTransient(e);

    private static string Truncate(string text) => SafeText.Shorten(text, Limits.Detail);

    private readonly record struct FlightKey(string Account, TimeSpan MinValidity);

    /// <summary>An account's stored access token and what decides whether it serves: never its credentials.</summary>
    private sealed record StoredAccess(Guid Id, string Name, AccountState State, string ProviderName, string? AccessTokenEncrypted,
        DateTimeOffset? AccessExpiresAt, DateTimeOffset? TokensObtainedAt, string? TokenType)
    {
        public static StoredAccess Of(Account account) => new(account.Id, account.Name, account.State, account.Provider?.Name ?? "",
            account.AccessTokenEncrypted, account.AccessExpiresAt, account.TokensObtainedAt, account.TokenType);

        public override string ToString() => $"StoredAccess {{ Name = {Name}, State = {State}, AccessExpiresAt = {AccessExpiresAt:O} }}";
    }

    /// <summary>When the stored token must be replaced: it does not meet MinValidity; always (Force); or it is
    /// still the one obtained at UnlessObtainedAfter (ahead-of-time refresh).</summary>
    private sealed record Renewal(TimeSpan MinValidity, bool Force = false, bool LoginOnly = false, DateTimeOffset? UnlessObtainedAfter = null);

    [LoggerMessage(Level = LogLevel.Information, Message = "Upstream {Kind} for account {Account}: {Outcome} (status {Status}, {ElapsedMs} ms)")]
    private partial void LogUpstreamCall(string account, string kind, string outcome, int? status, long elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A refresh of account {Account} was interrupted before its answer was stored; next: {Step}")]
    private partial void LogRefreshResumed(string account, RecoveryStep step);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Database fault while fetching a token for account {Account}")]
    private partial void LogDatabaseFault(Exception exception, string account);
}
