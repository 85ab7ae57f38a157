using System.Net;
using System.Text.Json.Nodes;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Reliability;

/// <summary>
/// docs/operations.md, "Stopping": a broker process gets SIGTERM, as in a rolling deploy, while the upstream holds
/// the answer of a refresh it sent for a refresh-only account on a provider without reuse grace (so a lost answer
/// would cost the chain). The stop waits for the answer and stores it: the next process serves a token the upstream
/// accepts, and no refresh token is ever presented twice.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class GracefulStopTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;
    private Dictionary<string, string?> _settings = null!;

    public async Task InitializeAsync()
    {
        _world = await BrokerWorld.StartAsync(simulatorClock: TimeProvider.System);
        _settings = new Dictionary<string, string?>(_world.Settings)
        {
            ["Broker:Tokens:FreshTokenWindow"] = "00:00:00", // a fetch with a large min_validity refreshes
            ["Broker:AheadOfTime:Enabled"] = "false",
        };
    }

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task A_refresh_the_request_path_sent_is_finished_and_stored_when_the_broker_is_stopped()
    {
        var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: null));
        var key = await _world.ConsumerAsync(account.Name);

        await using (var broker = await BrokerProcess.StartAsync(_settings))
        {
            await ServesAcceptedToken(broker, account.Name, key, minValidity: 3600, "before the stop");
            var refreshes = _world.Simulator.Refreshes(account.Username);
            var inFlight = _world.Simulator.InFlight;
            _world.Simulator.HoldAnswers();
            var refreshing = broker.TokenAsync(account.Name, key, minValidity: 3600);
            await _world.Simulator.WaitForInFlightAsync(inFlight + 1, TimeSpan.FromSeconds(60));
            await StopWhileHeldAsync(broker);
            await refreshing.ContinueWith(_ => { });
            _world.Simulator.Refreshes(account.Username).ShouldBe(refreshes + 1);
        }

        await AfterRestartTheChainLivesOn(account);
    }

    [Fact]
    public async Task A_refresh_the_ahead_of_time_loop_sent_is_finished_and_stored_when_the_broker_is_stopped()
    {
        var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: null));
        var key = await _world.ConsumerAsync(account.Name);
        var settings = new Dictionary<string, string?>(_settings)
        {
            ["Broker:AheadOfTime:Enabled"] = "true",
            ["Broker:AheadOfTime:Interval"] = "00:00:00.200",
            ["Broker:AheadOfTime:RefreshAt"] = "0.1",
            ["Broker:AheadOfTime:Jitter"] = "0",
        };

        _world.Simulator.AccessLifetime = TimeSpan.FromMinutes(2); // the loop refreshes 12 s into it

        await using (var broker = await BrokerProcess.StartAsync(settings))
        {
            await ServesAcceptedToken(broker, account.Name, key, minValidity: 60, "before the stop");
            var refreshes = _world.Simulator.Refreshes(account.Username);
            _world.Simulator.HoldAnswers();
            // No caller asks: the refresh held now is the loop's.
            await _world.Simulator.WaitForInFlightAsync(1, TimeSpan.FromSeconds(60));
            await StopWhileHeldAsync(broker);
            _world.Simulator.Refreshes(account.Username).ShouldBe(refreshes + 1, "the loop's refresh was answered");
        }

        await AfterRestartTheChainLivesOn(account);
    }

    /// <summary>SIGTERM while the answer is held; the answer goes once the broker says it waits for it.</summary>
    private async Task StopWhileHeldAsync(BrokerProcess broker)
    {
        var stopped = broker.StopAsync();
        await Poll.UntilAsync(() => Task.FromResult(broker.Output.Contains("waiting for 1 token renewal", StringComparison.Ordinal) ||
                                                    broker.Output.Contains("Application is shutting down", StringComparison.Ordinal)));
        _world.Simulator.ReleaseAnswers();
        await stopped;
    }

    private async Task AfterRestartTheChainLivesOn(RefreshOnlyAccount account)
    {
        var key = await _world.ConsumerAsync(account.Name);
        await using var next = await BrokerProcess.StartAsync(_settings);
        // What the stop stored is served, and a refresh with the token it stored works: the chain lives on.
        await ServesAcceptedToken(next, account.Name, key, minValidity: 60, "after the restart");
        await ServesAcceptedToken(next, account.Name, key, minValidity: 3600, "refreshed after the restart");
        _world.Simulator.RefreshReuses(account.Username).ShouldBe(0, "no refresh token was presented twice");
        _world.Simulator.TotalLogins.ShouldBe(0);
        var shown = await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}");
        shown["state"]!.GetValue<string>().ShouldBe("active");
    }

    private async Task ServesAcceptedToken(BrokerProcess broker, string account, string key, int minValidity, string when)
    {
        using var response = await broker.TokenAsync(account, key, minValidity);
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, $"{when}: {text}");
        _world.Simulator.IsValidAccessToken(JsonNode.Parse(text)!["access_token"]!.GetValue<string>()).ShouldBeTrue(when);
    }
}
