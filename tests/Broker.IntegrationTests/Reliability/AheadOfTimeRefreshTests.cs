using Broker.Domain;
using Broker.Infrastructure.Tokens;
using Broker.IntegrationTests.Audit;
using Broker.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Broker.IntegrationTests.Reliability;

public sealed class AheadOfTimeRefreshTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
    {
        ["Broker:AheadOfTime:Enabled"] = "true",
        ["Broker:AheadOfTime:Interval"] = "00:00:00.200",
    });

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task Under_steady_use_callers_never_wait_on_the_upstream()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key); // the first fetch logs in: nothing to serve yet
        _world.Simulator.Latency = TimeSpan.FromMilliseconds(100);
        var refresher = _world.Broker.Services.GetRequiredService<AheadOfTimeRefresher>();

        // Three token lifetimes of steady use, one fetch every 10 s of (manual) time.
        for (var i = 0; i < 90; i++)
        {
            _world.Clock.Advance(TimeSpan.FromSeconds(10));
            await refresher.RefreshDueAsync(default); // what the background loop does on its tick
            _world.Simulator.IsValidAccessToken(await _world.Broker.TokenAsync(account.Name, key)).ShouldBeTrue();
        }

        _world.Simulator.Refreshes(account.Username).ShouldBeGreaterThanOrEqualTo(3);
        _world.Simulator.Logins(account.Username).ShouldBe(1);
        // Every upstream call names the caller it was made for: after the first login, none was made for a caller's
        // fetch (one that would have waited on it). Counted by whom, not by when: the background loop may run too.
        (await _world.CountAsync("action IN ('token.obtained', 'token.refreshed') AND account_name = $1 AND client_name <> $2",
            account.Name, Caller.AheadOfTime.ClientName!)).ShouldBe(1);
    }

    [Fact]
    public async Task The_background_loop_refreshes_a_recently_used_token_by_itself()
    {
        var account = await _world.AccountAsync(DialectNames.Keycloak);
        var key = await _world.ConsumerAsync(account.Name);
        var first = await _world.Broker.TokenAsync(account.Name, key);
        var requests = _world.Simulator.TotalRequests;
        var refreshStarted = _world.Simulator.WaitForRequestsAsync(requests + 1, TimeSpan.FromSeconds(30));

        _world.Clock.Advance(TimeSpan.FromSeconds(250)); // past 70 % of the simulator's 300 s, not yet stale for callers
        await refreshStarted;

        // A fetch now waits for the refresh's row lock if need be, and gets its token: no call of its own.
        var second = await _world.Broker.TokenAsync(account.Name, key);
        second.ShouldNotBe(first);
        _world.Simulator.TotalRequests.ShouldBe(requests + 1);
        _world.Simulator.Refreshes(account.Username).ShouldBe(1);
    }

    [Fact]
    public async Task Idle_accounts_are_left_alone()
    {
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);
        var refresher = _world.Broker.Services.GetRequiredService<AheadOfTimeRefresher>();

        _world.Clock.Advance(TimeSpan.FromMinutes(16)); // longer than the idle window
        (await refresher.RefreshDueAsync(default)).ShouldBe(0);
        _world.Simulator.Refreshes(account.Username).ShouldBe(0);
    }

    [Fact]
    public async Task An_instance_refreshes_a_bounded_few_at_once_and_three_instances_refresh_each_due_account_exactly_once()
    {
        const int Accounts = 12, Concurrency = 3;
        // The loops' own timers are off: each pass below is what a tick does, run when the test says.
        await using var world = await BrokerWorld.StartAsync(brokers: 3, settings: new Dictionary<string, string?>
        {
            ["Broker:AheadOfTime:Enabled"] = "false",
            ["Broker:AheadOfTime:Concurrency"] = Concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        var accounts = new List<string>();
        for (var i = 0; i < Accounts; i++) accounts.Add((await world.AccountAsync(DialectNames.SimpleJwt)).Name);
        var key = await world.ConsumerAsync([.. accounts]);
        foreach (var broker in world.Brokers)
            foreach (var account in accounts) await broker.TokenAsync(account, key); // recently used on every instance
        AheadOfTimeRefresher Refresher(int i) => world.Brokers[i].Services.GetRequiredService<AheadOfTimeRefresher>();
        var refreshes = world.Simulator.TotalRefreshes;

        // One instance, answers held: it has exactly its Concurrency refreshes under way, and starts no more.
        world.Clock.Advance(TimeSpan.FromSeconds(250)); // past 70 % of the simulator's 300 s
        var inFlight = world.Simulator.InFlight;
        world.Simulator.HoldAnswers();
        var pass = Task.Run(() => Refresher(0).RefreshDueAsync(default));
        await world.Simulator.WaitForInFlightAsync(inFlight + Concurrency, TimeSpan.FromSeconds(60));
        world.Simulator.InFlight.ShouldBe(inFlight + Concurrency);
        world.Simulator.ReleaseAnswers();
        (await pass).ShouldBe(Accounts);
        world.Simulator.TotalRefreshes.ShouldBe(refreshes + Accounts);

        // The next expiry, all three instances at once: one refresh per account, whoever gets its lock first.
        world.Clock.Advance(TimeSpan.FromSeconds(250));
        await Task.WhenAll(Enumerable.Range(0, 3).Select(i => Task.Run(() => Refresher(i).RefreshDueAsync(default))));
        world.Simulator.TotalRefreshes.ShouldBe(refreshes + 2 * Accounts);
        world.Simulator.TotalLogins.ShouldBe(Accounts); // the first fetches only
        foreach (var account in accounts) world.Simulator.IsValidAccessToken(await world.Brokers[2].TokenAsync(account, key)).ShouldBeTrue();
    }

    [Fact]
    public async Task A_pass_reads_the_database_only_for_recent_accounts_this_instance_does_not_hold_in_memory()
    {
        await using var world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?> { ["Broker:AheadOfTime:Enabled"] = "false" });
        var accounts = new List<string>();
        for (var i = 0; i < 10; i++) accounts.Add((await world.AccountAsync(DialectNames.SimpleJwt)).Name);
        var key = await world.ConsumerAsync([.. accounts]);
        foreach (var account in accounts) await world.Broker.TokenAsync(account, key);
        var refresher = world.Broker.Services.GetRequiredService<AheadOfTimeRefresher>();
        static bool ReadsAccounts(string sql) => sql.Contains("FROM accounts", StringComparison.Ordinal);

        // All ten in memory, none due yet: the pass decides from memory alone.
        world.Clock.Advance(TimeSpan.FromSeconds(60));
        using (var commands = new DatabaseCommands(world.ConnectionString))
        {
            (await refresher.RefreshDueAsync(default)).ShouldBe(0);
            commands.Count(ReadsAccounts).ShouldBe(0);
        }

        // One no longer in memory (another instance's change dropped it, say): one read, for that one.
        world.Broker.Services.GetRequiredService<TokenCache>().Remove(accounts[0]);
        using (var commands = new DatabaseCommands(world.ConnectionString))
        {
            (await refresher.RefreshDueAsync(default)).ShouldBe(0);
            commands.Count(ReadsAccounts).ShouldBe(1);
        }

        // Due: each is refreshed once, the one read from the database too.
        world.Clock.Advance(TimeSpan.FromSeconds(190)); // past 70 % of the simulator's 300 s
        (await refresher.RefreshDueAsync(default)).ShouldBe(accounts.Count);
        world.Simulator.TotalRefreshes.ShouldBe(accounts.Count);
        (await refresher.RefreshDueAsync(default)).ShouldBe(0); // what it stored is in memory, and not due
    }

    [Fact]
    public async Task A_pass_skips_an_account_whose_row_is_locked_instead_of_waiting_and_refreshes_it_on_the_next()
    {
        // A lock wait longer than the test: a pass that waited for the row would not end while the test holds it.
        await using var world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Broker:AheadOfTime:Enabled"] = "false",
            ["Broker:Tokens:LockTimeout"] = "00:05:00",
        });
        var held = await world.AccountAsync(DialectNames.SimpleJwt);
        var free = await world.AccountAsync(DialectNames.SimpleJwt);
        var key = await world.ConsumerAsync(held.Name, free.Name);
        await world.Broker.TokenAsync(held.Name, key);
        await world.Broker.TokenAsync(free.Name, key);
        var refresher = world.Broker.Services.GetRequiredService<AheadOfTimeRefresher>();
        world.Clock.Advance(TimeSpan.FromSeconds(250));

        await using (var other = new NpgsqlConnection(world.ConnectionString)) // another instance, in the middle of its refresh
        {
            await other.OpenAsync();
            await using var tx = await other.BeginTransactionAsync();
            await using (var lockRow = new NpgsqlCommand("SELECT 1 FROM accounts WHERE name = $1 FOR UPDATE", other, tx))
            {
                lockRow.Parameters.AddWithValue(held.Name);
                await lockRow.ExecuteScalarAsync();
            }

            (await refresher.RefreshDueAsync(default).WaitAsync(TimeSpan.FromMinutes(2))).ShouldBe(2);
            world.Simulator.Refreshes(free.Username).ShouldBe(1);
            world.Simulator.Refreshes(held.Username).ShouldBe(0);
            world.Logs.Lines.ShouldNotContain(m => m.Contains(held.Name, StringComparison.Ordinal) && m.Contains("failed", StringComparison.Ordinal));
            await tx.RollbackAsync();
        }

        (await refresher.RefreshDueAsync(default)).ShouldBe(1);
        world.Simulator.Refreshes(held.Username).ShouldBe(1);
        world.Simulator.Refreshes(free.Username).ShouldBe(1);
    }
}
