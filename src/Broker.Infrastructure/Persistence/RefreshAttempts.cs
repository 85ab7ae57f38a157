using Broker.Domain;
using Microsoft.EntityFrameworkCore;

namespace Broker.Infrastructure.Persistence;

/// <summary>
/// The record of a refresh under way (docs/architecture.md, "Crash safety"). Only the holder of the account's row
/// lock reads or writes it.
/// </summary>
public static class RefreshAttempts
{
    /// <summary>
    /// Records, and commits at once on a connection of its own, that a refresh with the token hashed as
    /// <paramref name="tokenSha256"/> begins now: the caller's transaction holds the account's row lock across the
    /// upstream call, so whatever it writes is lost with it should the process die; this survives. A resend of the
    /// same token (a retry within the provider's reuse grace) keeps when the first attempt began: the grace, and the
    /// lifetime of what the upstream answers, count from then. A record of another token is history and is replaced.
    /// </summary>
    public static async Task BeginAsync(IDbContextFactory<BrokerDbContext> contexts, Guid accountId, string tokenSha256, DateTimeOffset at, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        await db.Database.ExecuteSqlAsync(
            $"""
             INSERT INTO refresh_attempts (account_id, started_at, token_sha256) VALUES ({accountId}, {at}, {tokenSha256})
             ON CONFLICT (account_id) DO UPDATE
             SET started_at = CASE WHEN refresh_attempts.token_sha256 = excluded.token_sha256 THEN refresh_attempts.started_at ELSE excluded.started_at END,
                 token_sha256 = excluded.token_sha256
             """, ct);
    }

    /// <summary>The attempt begun and never answered, if any (read under the account's lock).</summary>
    public static Task<RefreshAttempt?> UnfinishedAsync(BrokerDbContext db, Guid accountId, CancellationToken ct) =>
        db.RefreshAttempts.AsNoTracking().FirstOrDefaultAsync(a => a.AccountId == accountId, ct);

    /// <summary>The attempt is over: removed in the transaction that stores what came of it.</summary>
    public static Task EndAsync(BrokerDbContext db, Guid accountId, CancellationToken ct) =>
        db.RefreshAttempts.Where(a => a.AccountId == accountId).ExecuteDeleteAsync(ct);
}
