using System.Net;
using System.Text.Json.Nodes;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Admin;

/// <summary>
/// An admin's client hangs up (curl -m 2) while POST /admin/accounts/{name}/test waits on a slow upstream refresh,
/// for a refresh-only account on a provider without reuse grace: the refresh, once sent, is finished and stored
/// anyway, so the upstream's rotation is not lost and the chain lives on.
/// </summary>
public sealed class AccountTestHangUpTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task A_caller_that_hangs_up_mid_refresh_leaves_the_chain_alive()
    {
        var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: null));
        var key = await _world.ConsumerAsync(account.Name);
        var refreshes = _world.Simulator.Refreshes(account.Username);

        _world.Simulator.HoldAnswers();
        using var hangUp = new CancellationTokenSource();
        var testing = _world.Broker.SendAsync(_world.Broker.Request(HttpMethod.Post, $"/admin/accounts/{account.Name}/test", BrokerWorld.AdminKey), hangUp.Token);
        await _world.Simulator.WaitForInFlightAsync(1, TimeSpan.FromSeconds(60));
        await hangUp.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(testing);
        _world.Simulator.ReleaseAnswers();

        // The refresh's answer is stored: the token served now is the rotated chain's, with no second refresh.
        await Poll.UntilAsync(async () => (await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}"))["access_expires_at"] is not null);
        _world.Simulator.Refreshes(account.Username).ShouldBe(refreshes + 1);
        using var response = await _world.Broker.GetAsync($"/v1/accounts/{account.Name}/token?min_validity=60", key);
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        _world.Simulator.IsValidAccessToken(JsonNode.Parse(text)!["access_token"]!.GetValue<string>()).ShouldBeTrue();
        _world.Simulator.Refreshes(account.Username).ShouldBe(refreshes + 1, "the stored token was served, not refreshed again");
        _world.Simulator.RefreshReuses(account.Username).ShouldBe(0);
        var shown = await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}");
        shown["state"]!.GetValue<string>().ShouldBe("active");
    }
}
