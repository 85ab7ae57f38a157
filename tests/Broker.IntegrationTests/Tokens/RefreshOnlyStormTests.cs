using Broker.IntegrationTests.Support;

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
        await ExpiryStorm.RunAsync(_world, account.Name, account.Username, key, Callers, Rounds);

        _world.Simulator.RefreshReuses(account.Username).ShouldBe(0);
        _world.Simulator.RejectedRefreshes(account.Username).ShouldBe(0);
        _world.Simulator.TotalLogins.ShouldBe(0);
        _world.Simulator.TotalFailedLogins.ShouldBe(0);
        (await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}"))["state"]!.GetValue<string>().ShouldBe("active");
    }
}
