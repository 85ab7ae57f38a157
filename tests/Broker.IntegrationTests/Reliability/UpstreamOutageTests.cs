using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Support;
using Broker.Simulator;

namespace Broker.IntegrationTests.Reliability;

public sealed class UpstreamOutageTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task Cached_tokens_keep_flowing_and_the_breaker_stops_a_retry_storm()
    {
        var warm = await _world.AccountAsync(DialectNames.SlideRule);
        var cold = await _world.AccountAsync(DialectNames.SlideRule);
        var key = await _world.ConsumerAsync(warm.Name, cold.Name);
        var warmToken = await _world.Broker.TokenAsync(warm.Name, key);
        _world.Simulator.SetFault(Fault.ServerError);
        var callsBefore = _world.Simulator.TotalRequests;

        var coldStatuses = new List<HttpStatusCode>();
        for (var i = 0; i < 50; i++)
        {
            (await _world.Broker.TokenAsync(warm.Name, key)).ShouldBe(warmToken);
            var (status, _, response) = await _world.Broker.FetchAsync(cold.Name, key);
            coldStatuses.Add(status);
            response.Headers.RetryAfter.ShouldNotBeNull();
        }

        coldStatuses.ShouldAllBe(s => s == HttpStatusCode.ServiceUnavailable);
        // 50 failed fetches, but the breaker (4 failures) opened after two fetches of a login and one retry each.
        (_world.Simulator.TotalRequests - callsBefore).ShouldBeLessThanOrEqualTo(4);

        // The upstream recovers; after the break the breaker lets a trial through, and it closes again.
        _world.Simulator.ClearFaults();
        (await _world.Broker.FetchAsync(cold.Name, key)).Status.ShouldBe(HttpStatusCode.ServiceUnavailable); // still open
        _world.Clock.Advance(TimeSpan.FromSeconds(16));
        var token = await _world.Broker.TokenAsync(cold.Name, key);
        _world.Simulator.IsValidAccessToken(token).ShouldBeTrue();
        _world.Simulator.Logins(cold.Username).ShouldBe(1);
    }

    [Fact]
    public async Task A_refresh_that_fails_is_never_replayed_the_next_step_is_a_login()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);
        _world.Clock.Advance(SimulatorState.DefaultAccessLifetime);
        _world.Simulator.SetFault(Fault.ServerError, account.Username);

        (await _world.Broker.FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.ServiceUnavailable);
        var counters = _world.Simulator.GetCounters();

        _world.Simulator.ClearFaults();
        _world.Clock.Advance(TimeSpan.FromSeconds(16));
        var token = await _world.Broker.TokenAsync(account.Name, key);

        _world.Simulator.IsValidAccessToken(token).ShouldBeTrue();
        // During the outage: one refresh attempt and a login with one retry; never the refresh twice.
        counters.TotalRequests.ShouldBe(1 + 2 + 1); // + the first login
    }

    [Fact]
    public async Task A_provider_with_its_own_shorter_timeout_fails_fast_on_a_dead_upstream()
    {
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers", new
        {
            name = "impatient", dialect = "simplejwt", timeout_seconds = 1,
            token_url = new Uri(_world.SimulatorHost.BaseAddress, "api/v3/accounts/token/obtain/").ToString(),
        }, HttpStatusCode.Created);
        _world.Simulator.AddUser("impatient-user", "pw-impatient");
        _world.Secrets.Add("pw-impatient");
        await _world.AdminAsync(HttpMethod.Post, "/admin/accounts",
            new { name = "impatient-1", provider = "impatient", username = "impatient-user", password = "pw-impatient" }, HttpStatusCode.Created);
        var key = await _world.ConsumerAsync("impatient-1");
        _world.Simulator.SetFault(Fault.Timeout, "impatient-user");

        var (status, body, _) = await _world.Broker.FetchAsync("impatient-1", key);

        status.ShouldBe(HttpStatusCode.GatewayTimeout);
        // The global Broker:Upstream:Timeout is 10 s here; the provider's own 1 s applied (admins read it in last_error).
        body["detail"]!.GetValue<string>().ShouldNotContain("within");
        (await _world.AdminAsync(HttpMethod.Get, "/admin/accounts/impatient-1"))["last_error"]!.GetValue<string>().ShouldContain("within 1 s");
        (await _world.AdminAsync(HttpMethod.Get, "/admin/providers/impatient"))["timeout_seconds"]!.GetValue<int>().ShouldBe(1);
    }
}
