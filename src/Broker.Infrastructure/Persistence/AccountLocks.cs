using Broker.Domain;
using Microsoft.EntityFrameworkCore;

namespace Broker.Infrastructure.Persistence;

/// <summary>
/// The row locks that serialise everything changing an account's token set (docs/architecture.md, "Handing out a token", step 4):
/// the token issuer, the admin API and a provider's change take them the same way, in the caller's transaction.
/// </summary>
public static class AccountLocks
{
    /// <summary>
    /// Locks the account's row and reads it with its provider, in one round trip: everything done while the lock is
    /// held delays every other instance waiting for it. (PostgreSQL allows FOR UPDATE in the sub-select EF wraps
    /// around the SQL to join the provider; it locks the account row only.)
    /// </summary>
    public static Task<Account?> LockAccountAsync(BrokerDbContext db, Guid id, CancellationToken ct) =>
        db.Accounts.FromSql($"SELECT * FROM accounts WHERE id = {id} FOR UPDATE").Include(a => a.Provider).SingleOrDefaultAsync(ct);

    /// <inheritdoc cref="LockAccountAsync(BrokerDbContext, Guid, CancellationToken)"/>
    public static Task<Account?> LockAccountAsync(BrokerDbContext db, string name, CancellationToken ct) =>
        db.Accounts.FromSql($"SELECT * FROM accounts WHERE name = {name} FOR UPDATE").Include(a => a.Provider).SingleOrDefaultAsync(ct);

    /// <summary>
    /// Locks the account's row unless another transaction holds it, and reads it with its provider; null when the
    /// row is held (or gone). For work that another holder of the lock makes unnecessary: the ahead-of-time refresh,
    /// which must not queue behind another instance refreshing the same account.
    /// </summary>
    public static Task<Account?> TryLockAccountAsync(BrokerDbContext db, Guid id, CancellationToken ct) =>
        db.Accounts.FromSql($"SELECT * FROM accounts WHERE id = {id} FOR UPDATE SKIP LOCKED").Include(a => a.Provider).SingleOrDefaultAsync(ct);

    /// <summary>Locks the provider's row: one change of a provider at a time.</summary>
    public static Task<Provider?> LockProviderAsync(BrokerDbContext db, string name, CancellationToken ct) =>
        db.Providers.FromSql($"SELECT * FROM providers WHERE name = {name} FOR UPDATE").SingleOrDefaultAsync(ct);

    /// <summary>
    /// Locks the rows of every account of the provider, in id order (so two such changes cannot deadlock): no login
    /// with the provider's old settings can finish after its change and leave its tokens behind.
    /// </summary>
    public static Task<List<Account>> LockAccountsOfAsync(BrokerDbContext db, Guid providerId, CancellationToken ct) =>
        db.Accounts.FromSql($"SELECT * FROM accounts WHERE provider_id = {providerId} ORDER BY id FOR UPDATE").ToListAsync(ct);

    /// <summary>
    /// <c>lock_timeout</c> (and <c>idle_in_transaction_session_timeout</c>) for this transaction only. set_config with
    /// its third argument true is SET LOCAL, and unlike SET it takes its value as a parameter.
    /// </summary>
    public static Task SetTimeoutsAsync(BrokerDbContext db, TimeSpan lockTimeout, TimeSpan? idleTimeout, CancellationToken ct)
    {
        var lockMs = ((long)lockTimeout.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (idleTimeout is null) return db.Database.ExecuteSqlAsync($"SELECT set_config('lock_timeout', {lockMs}, true)", ct);
        var idleMs = ((long)idleTimeout.Value.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return db.Database.ExecuteSqlAsync(
            $"SELECT set_config('lock_timeout', {lockMs}, true), set_config('idle_in_transaction_session_timeout', {idleMs}, true)", ct);
    }
}
