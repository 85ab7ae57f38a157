using System.Diagnostics;
using Broker.Domain;
using Broker.Infrastructure.Tokens;
using Broker.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;

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
        var latencies = new List<double>();

        // Three token lifetimes of steady use, one fetch every 10 s of (manual) time.
        for (var i = 0; i < 90; i++)
        {
            _world.Clock.Advance(TimeSpan.FromSeconds(10));
            await refresher.RefreshDueAsync(default); // what the background loop does on its tick
            var upstreamCalls = _world.Simulator.TotalRequests;

            var watch = Stopwatch.StartNew();
            var token = await _world.Broker.TokenAsync(account.Name, key);
            latencies.Add(watch.Elapsed.TotalMilliseconds);

            _world.Simulator.TotalRequests.ShouldBe(upstreamCalls, $"fetch {i} waited on an upstream call");
            _world.Simulator.IsValidAccessToken(token).ShouldBeTrue();
        }

        _world.Simulator.Refreshes(account.Username).ShouldBeGreaterThanOrEqualTo(3);
        _world.Simulator.Logins(account.Username).ShouldBe(1);
        var p99 = latencies.Order().ElementAt((int)(latencies.Count * 0.99) - 1);
        p99.ShouldBeLessThan(100, "p99 of fetch latency with a 100 ms upstream");
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
}
