using Microsoft.Extensions.Options;
using Npgsql;

namespace Broker.Infrastructure.Tokens;

/// <summary>
/// Bounds how many renewals this instance runs at once (<see cref="TokenOptions.MaxConcurrentRenewals"/>). A renewal
/// holds a pooled connection, with the account's row lock, for its whole upstream call, and needs a second connection
/// for a moment to commit its refresh record before the call (<c>RefreshAttempts.BeginAsync</c>). Unbounded, a burst
/// of expiries took every connection of the pool with renewals that each waited for that second one: nothing moved
/// until the pool's timeout (15 s), and then most callers got 503 (docs/benchmarks.md, "Many refreshes at once").
/// With at most a third of the pool renewing, renewals hold at most two thirds of it, and reads of cold accounts, the
/// audit writer and the change feed keep the rest; callers beyond the bound wait here, in memory, in arrival order.
/// </summary>
public sealed class RenewalGate
{
    private readonly SemaphoreSlim _slots;

    public RenewalGate(IOptions<TokenOptions> options, NpgsqlDataSource dataSource)
    {
        Limit = LimitFor(options.Value.MaxConcurrentRenewals, new NpgsqlConnectionStringBuilder(dataSource.ConnectionString).MaxPoolSize);
        _slots = new SemaphoreSlim(Limit, Limit);
    }

    /// <summary>Renewals this instance runs at once.</summary>
    public int Limit { get; }

    /// <summary>The setting when given, else a third of the pool, at least one.</summary>
    public static int LimitFor(int setting, int poolSize) => setting > 0 ? setting : Math.Max(1, poolSize / 3);

    /// <summary>Waits for a slot; dispose the result to give it back.</summary>
    public async ValueTask<Slot> EnterAsync(CancellationToken ct)
    {
        await _slots.WaitAsync(ct);
        return new Slot(_slots);
    }

    public readonly struct Slot(SemaphoreSlim slots) : IDisposable
    {
        public void Dispose() => slots.Release();
    }
}
