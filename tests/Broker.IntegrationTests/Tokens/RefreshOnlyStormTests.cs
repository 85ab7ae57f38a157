using System.Net;
using Broker.IntegrationTests.Support;
using Broker.Simulator;

namespace Broker.IntegrationTests.Tokens;

/// <summary>
/// The storm guarantee for an account with nothing but its refresh token: a second refresh with a spent token would
/// not fall back on a login, it would cost a person's consent. With the record of each refresh committed before it is
/// sent (docs/architecture.md, "Crash safety"), the lock still admits one refresh per expiry.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class RefreshOnlyStormTests : IAsyncLifetime
{
    private const int Hosts = 3;
    private const int Callers = 200;
    private const int Rounds = 20;
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync(brokers: Hosts);

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task Concurrent_fetches_on_three_hosts_at_expiry_of_a_refresh_only_account_refresh_exactly_once()
    {
        var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: null));
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);
        // A slow upstream widens the window in which a second refresh could slip in.
        _world.Simulator.Latency = TimeSpan.FromMilliseconds(50);

        for (var round = 1; round <= Rounds; round++)
        {
            var refreshesBefore = _world.Simulator.Refreshes(account.Username);
            _world.Clock.Advance(SimulatorState.DefaultAccessLifetime);

            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var fetches = Enumerable.Range(0, Callers).Select(i => Task.Run(async () =>
            {
                await start.Task;
                return await _world.Brokers[i % Hosts].FetchAsync(account.Name, key);
            })).ToList();
            start.SetResult();
            var results = await Task.WhenAll(fetches);

            results.Where(r => r.Status != HttpStatusCode.OK).Select(r => r.Body.ToJsonString()).ShouldBeEmpty($"round {round}");
            var tokens = results.Select(r => r.Body["access_token"]!.GetValue<string>()).Distinct().ToList();
            tokens.Count.ShouldBe(1, $"round {round}: every caller gets the one new token");
            _world.Simulator.IsValidAccessToken(tokens[0]).ShouldBeTrue();
            (_world.Simulator.Refreshes(account.Username) - refreshesBefore).ShouldBe(1, $"round {round}: one upstream refresh");
        }

        _world.Simulator.RefreshReuses(account.Username).ShouldBe(0);
        _world.Simulator.RejectedRefreshes(account.Username).ShouldBe(0);
        _world.Simulator.TotalLogins.ShouldBe(0);
        _world.Simulator.TotalFailedLogins.ShouldBe(0);
        (await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}"))["state"]!.GetValue<string>().ShouldBe("active");
    }
}
