using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Broker.Infrastructure.Observability;

/// <summary>
/// How many accounts need an admin (needs_attention) or are inactive upstream, for the <c>broker.accounts</c> gauge.
/// Counted by a loop every <see cref="CountInterval"/>, not per scrape: a scrape (or several scrapers, several
/// instances) must not cost the database a query each.
/// </summary>
public sealed partial class AccountStateCounts(
    IDbContextFactory<BrokerDbContext> contexts,
    TimeProvider time,
    ILogger<AccountStateCounts> logger) : PeriodicLoop(time, logger)
{
    public static readonly TimeSpan CountInterval = TimeSpan.FromSeconds(30);

    private static readonly AccountState[] Counted = [AccountState.NeedsAttention, AccountState.Inactive];

    private volatile IReadOnlyList<(string State, long Count)> _current = [];

    /// <summary>The last count (empty until the first one): one entry per counted state, zeros included.</summary>
    public IReadOnlyList<(string State, long Count)> Current => _current;

    protected override TimeSpan Interval => CountInterval;
    protected override Task TickAsync(CancellationToken stoppingToken) => CountAsync(stoppingToken);

    // The database may be down; the gauge keeps the last count and the next tick tries again.
    protected override void TickFailed(Exception exception) => LogCountFailed(exception);

    public async Task CountAsync(CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var counts = await db.Accounts.AsNoTracking().Where(a => Counted.Contains(a.State))
            .GroupBy(a => a.State).Select(g => new { g.Key, Count = g.LongCount() }).ToListAsync(ct);
        _current = Counted.Select(state => (state.ToName(), counts.FirstOrDefault(c => c.Key == state)?.Count ?? 0)).ToList();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Counting accounts by state for the metrics failed")]
    private partial void LogCountFailed(Exception exception);
}
