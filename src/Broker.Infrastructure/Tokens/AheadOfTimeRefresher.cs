using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Broker.Infrastructure.Tokens;

/// <summary>
/// Refreshes the tokens of accounts this instance served recently before they expire, through the same row lock
/// and re-read under it as the request path (not its single flight: a request's miss meanwhile waits on the lock),
/// so callers almost never wait on an upstream. Which accounts are due is decided from what this instance holds in
/// its memory cache, and only the recent accounts it does not hold are read from the database: a pass over 100,000
/// accounts must not cost a query over all of them every few seconds. What memory says may be stale (another
/// instance refreshed meanwhile): then the refresh's plain read finds the newer token and stops there. Several
/// instances may pick the same account: the first one to lock its row refreshes, the others skip it rather than
/// wait (SKIP LOCKED) and find the new token on their next pass. A pass refreshes up to
/// <see cref="AheadOfTimeOptions.Concurrency"/> accounts at once, the soonest to expire first.
/// </summary>
public sealed partial class AheadOfTimeRefresher(
    TokenIssuer issuer,
    TokenCache cache,
    IDbContextFactory<BrokerDbContext> contexts,
    TimeProvider time,
    IOptions<AheadOfTimeOptions> options,
    ILogger<AheadOfTimeRefresher> logger) : PeriodicLoop(time, logger)
{
    protected override TimeSpan Interval => options.Value.Interval;
    protected override bool TicksAtStart => false;
    protected override bool Enabled => options.Value.Enabled;
    protected override Task TickAsync(CancellationToken stoppingToken) => RefreshDueAsync(stoppingToken);
    protected override void TickFailed(Exception exception) => LogPassFailed(exception);

    /// <summary>One pass: find the recently used accounts whose tokens are due, and refresh them.</summary>
    /// <returns>How many accounts were due.</returns>
    public async Task<int> RefreshDueAsync(CancellationToken ct)
    {
        var settings = options.Value;
        var now = Clock.GetUtcNow();
        var recent = issuer.UsedSince(now - settings.IdleWindow);
        if (recent.Count == 0) return 0;

        var due = new List<Candidate>();
        var notInMemory = new List<string>();
        foreach (var name in recent)
        {
            if (!cache.TryGet(name, out var cached)) notInMemory.Add(name);
            else if (IsDue(settings, now, cached.AccountId, cached.ObtainedAt, cached.ExpiresAt, cached.RefreshExpiresAt))
                due.Add(new Candidate(name, cached.ObtainedAt, cached.ExpiresAt));
        }
        // Evicted, dropped by another instance's change, or failed: the database says whether there is a token to keep fresh.
        if (notInMemory.Count > 0) due.AddRange(await StoredDueAsync(settings, now, notInMemory, ct));
        due.Sort((a, b) => Nullable.Compare(a.ExpiresAt, b.ExpiresAt));

        // From the host's stop on, no account is picked: what was sent is finished by the drain (RenewalDrain).
        await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = settings.Concurrency, CancellationToken = ct },
            async (account, token) =>
            {
                try
                {
                    var result = await issuer.RefreshAheadAsync(account.Name, account.ObtainedAt, token);
                    if (result is TokenResult.Failed failed) LogRefreshFailed(account.Name, failed.Failure);
                }
                catch (Exception e) when (!token.IsCancellationRequested)
                {
                    // One account (a secret that no longer decrypts, say) must not keep the others from being refreshed.
                    LogAccountFailed(e, account.Name);
                }
            });
        return due.Count;
    }

    private async Task<List<Candidate>> StoredDueAsync(AheadOfTimeOptions settings, DateTimeOffset now, List<string> names, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var stored = await db.Accounts.AsNoTracking()
            .Where(a => names.Contains(a.Name) && a.State == AccountState.Active && a.AccessTokenEncrypted != null)
            .Select(a => new { a.Id, a.Name, a.TokensObtainedAt, a.AccessExpiresAt, a.RefreshExpiresAt })
            .ToListAsync(ct);
        return stored.Where(a => IsDue(settings, now, a.Id, a.TokensObtainedAt, a.AccessExpiresAt, a.RefreshExpiresAt))
            .Select(a => new Candidate(a.Name, a.TokensObtainedAt, a.AccessExpiresAt)).ToList();
    }

    private static bool IsDue(AheadOfTimeOptions settings, DateTimeOffset now, Guid accountId, DateTimeOffset? obtainedAt,
        DateTimeOffset? accessExpiresAt, DateTimeOffset? refreshExpiresAt) =>
        AheadOfTime.IsDue(obtainedAt, accessExpiresAt, refreshExpiresAt, now, settings.RefreshAt, settings.Jitter,
            AheadOfTime.ShareOf(accountId), settings.RefreshTokenMargin);

    private sealed record Candidate(string Name, DateTimeOffset? ObtainedAt, DateTimeOffset? ExpiresAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ahead-of-time refresh pass failed")]
    private partial void LogPassFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Ahead-of-time refresh of account {Account} threw; the pass goes on with the next account")]
    private partial void LogAccountFailed(Exception exception, string account);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ahead-of-time refresh of account {Account} failed: {Failure}")]
    private partial void LogRefreshFailed(string account, TokenFailure failure);
}
