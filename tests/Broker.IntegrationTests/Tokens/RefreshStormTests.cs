using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Support;
using Broker.Simulator;

namespace Broker.IntegrationTests.Tokens;

/// <summary>
/// The guarantee: however many callers on however many instances ask at the moment a token expires, the
/// single-use refresh token is spent once, and everyone gets the one new token.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class RefreshStormTests : IAsyncLifetime
{
    private const int Hosts = 3;
    private const int Callers = 200;
    private const int Rounds = 20;
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync(brokers: Hosts);

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Theory]
    [InlineData(DialectNames.SlideRule)]
    [InlineData(DialectNames.OAuth2Password)]
    public async Task Concurrent_fetches_on_three_hosts_at_expiry_refresh_exactly_once(string dialect)
    {
        var account = await _world.AccountAsync(dialect);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);
        // A slow upstream widens the window in which a second refresh could slip in.
        _world.Simulator.Latency = TimeSpan.FromMilliseconds(50);

        for (var round = 1; round <= Rounds; round++)
        {
            var refreshesBefore = _world.Simulator.Refreshes(account.UpstreamUser);
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
            (_world.Simulator.Refreshes(account.UpstreamUser) - refreshesBefore).ShouldBe(1, $"round {round}: one upstream refresh");
        }

        _world.Simulator.Logins(account.UpstreamUser).ShouldBe(1);
        _world.Simulator.RefreshReuses(account.UpstreamUser).ShouldBe(0);
        _world.Simulator.RejectedRefreshes(account.UpstreamUser).ShouldBe(0);
    }
}
