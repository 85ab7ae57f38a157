using System.Collections.Concurrent;
using Broker.Infrastructure.Persistence;
using Broker.IntegrationTests.Support;
using CsCheck;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Broker.IntegrationTests.Storage;

/// <summary>
/// The change feed misses nothing and applies nothing twice, however transactions interleave: ids taken in one order,
/// transaction ids in another, commits (and rollbacks) in a third, with the feed reading between every two commits
/// while the others are still open. A reader paging by "id > last" would skip the rows of a transaction that took a
/// small id and committed after a larger one was read.
/// </summary>
public sealed class ChangeFeedPropertyTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    private sealed record Schedule(int[] Rows, bool[] TakesXidFirst, int[] InsertOrder, int[] CommitOrder, bool[] RollsBack);

    private static readonly Gen<Schedule> Schedules =
        from n in Gen.Int[2, 6]
        from rows in Gen.Int[1, 3].Array[n]
        from xidFirst in Gen.Bool.Array[n]
        from insertOrder in Gen.Shuffle(Enumerable.Range(0, n).ToArray())
        from commitOrder in Gen.Shuffle(Enumerable.Range(0, n).ToArray())
        from rollsBack in Gen.Int[0, 4].Select(i => i == 0).Array[n]
        select new Schedule(rows, xidFirst, insertOrder, commitOrder, rollsBack);

    [Fact]
    public async Task Every_committed_row_is_applied_exactly_once_whatever_the_order_of_ids_xids_and_commits()
    {
        var feed = _world.Broker.Services.GetRequiredService<ChangeFeed>();
        var applied = new ConcurrentQueue<string>();
        feed.Applied += changes => { foreach (var change in changes) applied.Enqueue(change.Subject); };
        var sample = 0;

        await Schedules.SampleAsync(async schedule =>
        {
            var prefix = $"feed-property-{Interlocked.Increment(ref sample)}-";
            var n = schedule.Rows.Length;
            var connections = new NpgsqlConnection[n];
            var transactions = new NpgsqlTransaction[n];
            try
            {
                for (var i = 0; i < n; i++)
                {
                    connections[i] = new NpgsqlConnection(_world.ConnectionString);
                    await connections[i].OpenAsync();
                    transactions[i] = await connections[i].BeginTransactionAsync();
                    // The transaction id is taken now, before any row: xid order differs from id order.
                    if (schedule.TakesXidFirst[i]) await ExecuteAsync(connections[i], transactions[i], "SELECT pg_current_xact_id()");
                }
                foreach (var i in schedule.InsertOrder)
                    for (var row = 0; row < schedule.Rows[i]; row++)
                        await ExecuteAsync(connections[i], transactions[i], "INSERT INTO changes (kind, subject) VALUES ('account', $1)", $"{prefix}{i}-{row}");
                foreach (var i in schedule.CommitOrder)
                {
                    if (schedule.RollsBack[i]) await transactions[i].RollbackAsync();
                    else await transactions[i].CommitAsync();
                    await feed.CatchUpAsync(CancellationToken.None); // a read between this commit and the next
                }
            }
            finally
            {
                foreach (var connection in connections)
                    if (connection is not null) await connection.DisposeAsync();
            }
            await feed.CatchUpAsync(CancellationToken.None);

            var expected = Enumerable.Range(0, n).Where(i => !schedule.RollsBack[i])
                .SelectMany(i => Enumerable.Range(0, schedule.Rows[i]).Select(row => $"{prefix}{i}-{row}")).Order().ToList();
            applied.Where(s => s.StartsWith(prefix, StringComparison.Ordinal)).Order().ToList().ShouldBe(expected);
        }, iter: 25, threads: 1);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, string? value = null)
    {
        await using var command = new NpgsqlCommand(sql, connection, tx);
        if (value is not null) command.Parameters.Add(new NpgsqlParameter { Value = value });
        await command.ExecuteNonQueryAsync();
    }
}
