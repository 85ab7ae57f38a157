using System.Net;
using System.Net.Http.Json;
using Broker.Domain;
using Broker.IntegrationTests.Support;
using Broker.Simulator;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Tokens;

/// <summary>
/// What a consumer cannot make the broker do however it words its requests: split one renewal into many by asking
/// for odd <c>min_validity</c> values, or force more than one renewal of a token by reporting it rejected.
/// </summary>
public sealed class RenewalBoundsTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task Two_hundred_distinct_min_validity_values_share_a_handful_of_flights_and_one_refresh()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);
        _world.Simulator.Latency = TimeSpan.FromMilliseconds(100); // the flights overlap while the refresh runs
        _world.Clock.Advance(SimulatorState.DefaultAccessLifetime);
        using var commands = new DatabaseCommands(_world.ConnectionString);

        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var fetches = Enumerable.Range(61, 200).Select(seconds => Task.Run(async () =>
        {
            await start.Task;
            return await _world.Broker.FetchAsync(account.Name, key, seconds);
        })).ToList();
        start.SetResult();
        var results = await Task.WhenAll(fetches);

        results.ShouldAllBe(r => r.Status == HttpStatusCode.OK);
        _world.Simulator.Refreshes(account.UpstreamUser).ShouldBe(1);
        // 61 … 260 s fall into the steps 90, 120, 180, 240 and 300 s: at most five flights, so five account row locks,
        // not 200. (Only the accounts' locks: the webhook dispatcher's lease, FOR UPDATE SKIP LOCKED on its own table,
        // polls on its own clock and may run meanwhile on a slow machine.)
        commands.Count(s => s.Contains("FROM accounts", StringComparison.Ordinal) && s.Contains("FOR UPDATE", StringComparison.Ordinal))
            .ShouldBeInRange(1, 5);
    }

    /// <summary>
    /// More accounts expiring at once than the connection pool has connections. A renewal holds one connection across its
    /// upstream call and needs a second for a moment (its refresh record): unbounded, the renewals took the whole pool and
    /// waited on each other until the pool's timeout, and callers got 503. Bounded to a third of the pool
    /// (<see cref="Broker.Infrastructure.Tokens.RenewalGate"/>), every caller is served and each account refreshed once.
    /// </summary>
    [Fact]
    public async Task More_accounts_expiring_at_once_than_the_pool_has_connections_are_each_refreshed_once_and_every_caller_served()
    {
        _world.Settings["ConnectionStrings:Broker"] = _world.ConnectionString + ";Maximum Pool Size=6;Timeout=5";
        await _world.RestartBrokersAsync();
        var accounts = new List<TestAccount>();
        for (var i = 0; i < 24; i++) accounts.Add(await _world.AccountAsync(DialectNames.SimpleJwt));
        var key = await _world.ConsumerAsync([.. accounts.Select(a => a.Name)]);
        foreach (var account in accounts) await _world.Broker.TokenAsync(account.Name, key);
        _world.Simulator.Latency = TimeSpan.FromMilliseconds(200); // the renewals overlap
        _world.Clock.Advance(SimulatorState.DefaultAccessLifetime);

        var results = await Task.WhenAll(accounts.Select(a => Task.Run(() => _world.Broker.FetchAsync(a.Name, key))));

        results.Select(r => r.Status).ShouldAllBe(s => s == HttpStatusCode.OK);
        accounts.Select(a => _world.Simulator.Refreshes(a.UpstreamUser)).ShouldAllBe(n => n == 1);
        _world.Broker.Services.GetRequiredService<Broker.Infrastructure.Tokens.RenewalGate>().Limit.ShouldBe(2);
    }

    [Fact]
    public async Task Reports_without_the_token_renew_a_token_once_however_many_arrive()
    {
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        var key = await _world.ConsumerAsync(account.Name);
        var first = await _world.Broker.TokenAsync(account.Name, key);
        _world.Clock.Advance(TimeSpan.FromMinutes(1)); // older than the window in which a token counts as just obtained

        await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => ReportAsync(account.Name, key, token: null)));
        var second = await _world.Broker.TokenAsync(account.Name, key);
        second.ShouldNotBe(first);
        _world.Simulator.Refreshes(account.UpstreamUser).ShouldBe(1);

        // The same reports again, about the token that replaced the first: it was just obtained, so they are taken
        // to be late reports about the first, and renew nothing.
        await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => ReportAsync(account.Name, key, token: null)));
        (await _world.Broker.TokenAsync(account.Name, key)).ShouldBe(second);
        // Reports naming the first token renew nothing either: it is no longer the current one.
        await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => ReportAsync(account.Name, key, first)));
        (await _world.Broker.TokenAsync(account.Name, key)).ShouldBe(second);
        _world.Simulator.Refreshes(account.UpstreamUser).ShouldBe(1);
        _world.Simulator.Logins(account.UpstreamUser).ShouldBe(1);
    }

    private async Task ReportAsync(string account, string key, string? token)
    {
        using var response = await _world.Broker.SendAsync(_world.Broker.Request(HttpMethod.Post, $"/v1/accounts/{account}/token/rejected", key,
            token is null ? JsonContent.Create(new { }) : JsonContent.Create(new { access_token = token }, options: BrokerWorld.Json)));
        response.StatusCode.ShouldBe(HttpStatusCode.NoContent);
    }
}
