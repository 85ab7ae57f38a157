using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Broker.Infrastructure.Tokens;

/// <summary>
/// Refreshes the tokens of accounts this instance served recently before they expire, through the same row lock
/// and re-read under it as the request path (not its single flight: a request's miss meanwhile waits on the lock),
/// so callers almost never wait on an upstream. Several instances may pick the same account: the first one under
/// the lock refreshes, the others find the new token and stop. A pass refreshes up to
/// <see cref="AheadOfTimeOptions.Concurrency"/> accounts at once, the soonest to expire first.
/// </summary>
public sealed partial class AheadOfTimeRefresher(
    TokenIssuer issuer,
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
    public async Task<int> RefreshDueAsync(CancellationToken ct)
    {
        var settings = options.Value;
        var now = Clock.GetUtcNow();
        var recent = issuer.UsedSince(now - settings.IdleWindow);
        if (recent.Count == 0) return 0;

        await using var db = await contexts.CreateDbContextAsync(ct);
        var candidates = await db.Accounts.AsNoTracking()
            .Where(a => recent.Contains(a.Name) && a.State == AccountState.Active && a.AccessTokenEncrypted != null)
            .Select(a => new { a.Id, a.Name, a.TokensObtainedAt, a.AccessExpiresAt, a.RefreshExpiresAt })
            .ToListAsync(ct);

        var due = candidates.Where(a => AheadOfTime.IsDue(a.TokensObtainedAt, a.AccessExpiresAt, a.RefreshExpiresAt, now,
            settings.RefreshAt, settings.Jitter, AheadOfTime.ShareOf(a.Id), settings.RefreshTokenMargin))
            .OrderBy(a => a.AccessExpiresAt).ToList();
        // From the host's stop on, no account is picked: what was sent is finished by the drain (RenewalDrain).
        await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = settings.Concurrency, CancellationToken = ct },
            async (account, token) =>
            {
                try
                {
                    var result = await issuer.RefreshAheadAsync(account.Name, account.TokensObtainedAt, token);
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ahead-of-time refresh pass failed")]
    private partial void LogPassFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Ahead-of-time refresh of account {Account} threw; the pass goes on with the next account")]
    private partial void LogAccountFailed(Exception exception, string account);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ahead-of-time refresh of account {Account} failed: {Failure}")]
    private partial void LogRefreshFailed(string account, TokenFailure failure);
}
