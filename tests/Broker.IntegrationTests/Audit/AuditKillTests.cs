using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Audit;

/// <summary>What a SIGKILL can take from the trail: the served tokens of the open rollup window, nothing written before.</summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class AuditKillTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task A_killed_broker_loses_at_most_the_served_tokens_of_the_open_window()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(account.Name);
        var settings = new Dictionary<string, string?>(_world.Settings) { ["Broker:Audit:RollupWindow"] = "00:00:00.500" };

        await using (var broker = await BrokerProcess.StartAsync(settings))
        {
            broker.Http.DefaultRequestHeaders.Authorization = new("Bearer", key);
            // Fetches whose window has ended are in the table without any shutdown.
            const int written = 50;
            for (var i = 0; i < written; i++)
                (await broker.Http.GetAsync($"/v1/accounts/{account.Name}/token")).StatusCode.ShouldBe(HttpStatusCode.OK);
            await Poll.UntilAsync(async () => await _world.EventsAsync("action = 'token.served'") == written);

            // More fetches, then SIGKILL before their window is over (or while it is written).
            const int open = 50;
            for (var i = 0; i < open; i++)
                (await broker.Http.GetAsync($"/v1/accounts/{account.Name}/token")).StatusCode.ShouldBe(HttpStatusCode.OK);
            broker.Kill();

            var recorded = await _world.EventsAsync("action = 'token.served'");
            recorded.ShouldBeInRange(written, written + open);
        }

        // The trail takes the next instance's events as before, and nothing recorded was lost or doubled.
        var before = await _world.EventsAsync("action = 'token.served'");
        await using (var next = await BrokerProcess.StartAsync(settings))
        {
            next.Http.DefaultRequestHeaders.Authorization = new("Bearer", key);
            for (var i = 0; i < 10; i++)
                (await next.Http.GetAsync($"/v1/accounts/{account.Name}/token")).StatusCode.ShouldBe(HttpStatusCode.OK);
            await next.StopAsync(); // SIGTERM: the open window is written
        }
        (await _world.EventsAsync("action = 'token.served'")).ShouldBe(before + 10);
    }
}
