namespace Broker.IntegrationTests.Support;

/// <summary>
/// One world for every test of a class (<c>IClassFixture&lt;SharedWorld&gt;</c>), for classes whose tests make their
/// own accounts and clients, count only what they themselves cause, and leave the world's settings alone. A world
/// costs a database, a simulator and a broker host; one per test was most of the fast tests' time. The tests of a
/// class run one after another, so a test may still move the clock or set a fault it clears again.
/// </summary>
public class SharedWorld : IAsyncLifetime
{
    public BrokerWorld World { get; private set; } = null!;

    /// <summary>The world's own settings, for a class whose tests all need them.</summary>
    protected virtual IReadOnlyDictionary<string, string?>? Settings => null;

    public async Task InitializeAsync() => World = await BrokerWorld.StartAsync(settings: Settings);

    public async Task DisposeAsync() => await World.DisposeAsync();
}
