using Broker.Domain;
using Broker.IntegrationTests.Support;

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
        await ExpiryStorm.RunAsync(_world, account.Name, account.UpstreamUser, key, Callers, Rounds);

        _world.Simulator.Logins(account.UpstreamUser).ShouldBe(1);
        _world.Simulator.RefreshReuses(account.UpstreamUser).ShouldBe(0);
        _world.Simulator.RejectedRefreshes(account.UpstreamUser).ShouldBe(0);
    }
}
