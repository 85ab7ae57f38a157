using System.Net;
using System.Text.Json.Nodes;
using Broker.Domain;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Reliability;

/// <summary>
/// docs/architecture.md, "Crash safety": if the process dies after the upstream rotated the refresh token but before the commit, the
/// new refresh token is lost and the next caller logs in again. Nothing else is lost, and no lock stays behind.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class ProcessKillTests : IAsyncLifetime
{
    private const int Kills = 20;
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() =>
        _world = await BrokerWorld.StartAsync(simulatorClock: TimeProvider.System);

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task Killing_the_broker_mid_refresh_twenty_times_loses_nothing_but_the_rotated_refresh_token()
    {
        var accounts = new[]
        {
            await _world.AccountAsync(DialectNames.SlideRule),
            await _world.AccountAsync(DialectNames.SimpleJwt),
            await _world.AccountAsync(DialectNames.OAuth2Password),
        };
        var key = await _world.ConsumerAsync(accounts.Select(a => a.Name).ToArray());
        var settings = new Dictionary<string, string?>(_world.Settings)
        {
            ["Broker:Tokens:FreshTokenWindow"] = "00:00:00", // every fetch with a large min_validity refreshes
            // Long enough that no held refresh times out before all three are in flight, on however busy a machine.
            ["Broker:Upstream:Timeout"] = "00:00:30",
            ["Broker:Tokens:LockTimeout"] = "00:01:40", // must outlast the longest upstream step; a lock left behind would show as a 503
        };

        for (var kill = 1; kill <= Kills; kill++)
        {
            await using var broker = await BrokerProcess.StartAsync(settings);
            await AllAccountsYieldValidTokens(broker, accounts, key, kill);

            // The simulator spends each refresh token, then holds its answer: the window in which we kill, as long
            // as it takes all three refreshes to arrive, however busy the machine.
            var inFlight = _world.Simulator.InFlight;
            _world.Simulator.HoldAnswers();
            var refreshing = accounts.Select(a => broker.TokenAsync(a.Name, key, minValidity: 3600)).ToList();
            await _world.Simulator.WaitForInFlightAsync(inFlight + accounts.Length, TimeSpan.FromSeconds(60));
            broker.Kill();
            await Task.WhenAll(refreshing.Select(t => t.ContinueWith(_ => { }))); // their connections just broke
            _world.Simulator.ReleaseAnswers();
        }

        await using (var last = await BrokerProcess.StartAsync(settings))
            await AllAccountsYieldValidTokens(last, accounts, key, Kills + 1);

        foreach (var account in accounts)
            _world.Simulator.Logins(account.Username).ShouldBeLessThanOrEqualTo(1 + Kills, $"{account.Name}: at most one extra login per kill");
        _world.Simulator.TotalRefreshReuses.ShouldBeLessThanOrEqualTo(accounts.Length * Kills);
        (await IdleTransactionsAsync()).ShouldBe(0);
    }

    private async Task AllAccountsYieldValidTokens(BrokerProcess broker, TestAccount[] accounts, string key, int round)
    {
        foreach (var account in accounts)
        {
            using var response = await broker.TokenAsync(account.Name, key, minValidity: 0);
            var text = await response.Content.ReadAsStringAsync();
            response.StatusCode.ShouldBe(HttpStatusCode.OK, $"round {round}, {account.Name}: {text}");
            var token = JsonNode.Parse(text)!["access_token"]!.GetValue<string>();
            _world.Simulator.IsValidAccessToken(token).ShouldBeTrue($"round {round}, {account.Name}");
        }
    }

    private Task<long> IdleTransactionsAsync() => _world.ScalarAsync<long>(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'");
}
