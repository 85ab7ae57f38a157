using System.Net;
using System.Net.Http.Json;
using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Broker.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Broker.IntegrationTests.Reliability;

/// <summary>
/// Two broker instances on one database, with a token cache that would keep its entries for ten minutes (and a clock
/// that does not move): a change made through one instance reaches the other within seconds only through the change
/// feed.
/// </summary>
public sealed class CrossInstanceInvalidationTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private BrokerWorld _world = null!;

    private BrokerHost A => _world.Brokers[0]; // the world's admin calls go through this one
    private BrokerHost B => _world.Brokers[1];

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync(brokers: 2, settings: new Dictionary<string, string?>
    {
        ["Broker:Tokens:MemoryCacheMaxAge"] = "00:10:00",
    });

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task Key_revoked_through_one_instance_is_refused_by_another_that_had_it_cached()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await ClientAsync("svc", account.Name);
        await B.TokenAsync(account.Name, key); // B has the key cached now

        await _world.AdminAsync(HttpMethod.Post, "/admin/clients/svc/revoke");

        await EventuallyAsync(async () => (await B.FetchAsync(account.Name, key)).Status == HttpStatusCode.Unauthorized,
            "the other instance refuses the revoked key");
    }

    [Fact]
    public async Task Grant_removed_through_one_instance_is_refused_by_another_that_had_it_cached()
    {
        var kept = await _world.AccountAsync(DialectNames.SimpleJwt);
        var removed = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await ClientAsync("svc", kept.Name, removed.Name);
        await B.TokenAsync(removed.Name, key);

        await _world.AdminAsync(HttpMethod.Put, "/admin/clients/svc/grants", new { accounts = new[] { kept.Name } });

        await EventuallyAsync(async () => (await B.FetchAsync(removed.Name, key)).Status == HttpStatusCode.Forbidden,
            "the other instance refuses the account no longer granted");
        await B.TokenAsync(kept.Name, key);
    }

    /// <summary>
    /// A provider-wide grant covers accounts created and moved later, on every instance, and neither costs a reload of the
    /// key directory (which used to copy every account name into every such client and read it all again per account).
    /// </summary>
    [Fact]
    public async Task Accounts_created_and_moved_through_one_instance_are_covered_by_a_provider_grant_on_another_without_a_directory_reload()
    {
        var first = await _world.NewProviderAsync(DialectNames.SlideRule);
        var second = await _world.NewProviderAsync(DialectNames.SlideRule);
        var key = await _world.ClientAsync("svc-provider", providers: [first]);
        var directory = B.Services.GetRequiredService<Broker.Infrastructure.Security.ClientDirectory>();
        var feed = B.Services.GetRequiredService<ChangeFeed>();
        await feed.CatchUpAsync(CancellationToken.None);
        var generation = directory.Generation;

        var created = await _world.AccountAsync(DialectNames.SlideRule, first);
        await B.TokenAsync(created.Name, key); // no wait: a miss catches up with the feed first
        var moved = await _world.AccountAsync(DialectNames.SlideRule, second);
        (await B.FetchAsync(moved.Name, key)).Status.ShouldBe(HttpStatusCode.Forbidden);

        // A move clears the credentials (they were the other provider's): they come with it.
        await _world.AdminAsync(HttpMethod.Patch, $"/admin/accounts/{moved.Name}",
            new { provider = first, username = moved.Username, password = moved.Password, org_name = "UofMDTest" });
        await B.TokenAsync(moved.Name, key);
        await _world.AdminAsync(HttpMethod.Patch, $"/admin/accounts/{created.Name}", new { provider = second });
        await EventuallyAsync(async () => (await B.FetchAsync(created.Name, key)).Status == HttpStatusCode.Forbidden,
            "the other instance refuses the account moved out of the granted provider");

        directory.Generation.ShouldBe(generation, "no client was read again: only the accounts' providers");
    }

    [Fact]
    public async Task Token_reported_rejected_through_one_instance_is_no_longer_served_by_another()
    {
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        var key = await ClientAsync("svc", account.Name);
        var rejected = await B.TokenAsync(account.Name, key); // B holds it in memory now
        (await B.TokenAsync(account.Name, key)).ShouldBe(rejected);

        using var report = await A.SendAsync(A.Request(HttpMethod.Post, $"/v1/accounts/{account.Name}/token/rejected", key,
            JsonContent.Create(new { access_token = rejected }, options: BrokerWorld.Json)));
        report.StatusCode.ShouldBe(HttpStatusCode.NoContent);

        string? served = null;
        await EventuallyAsync(async () => (served = await B.TokenAsync(account.Name, key)) != rejected,
            "the other instance stops serving the rejected token");
        _world.Simulator.IsValidAccessToken(served!).ShouldBeTrue();
        _world.Simulator.Refreshes(account.UpstreamUser).ShouldBe(1);
    }

    [Fact]
    public async Task Hint_connections_killed_change_nothing_the_feed_is_polled_and_they_reconnect()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var before = await ListeningBackendsAsync();
        before.Count.ShouldBe(2, "one hint connection per instance");
        var key = await ClientAsync("svc", account.Name);
        await B.TokenAsync(account.Name, key);

        await _world.ExecuteAsync("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", before.ToArray());
        // At once, no waiting for the hint connections to come back: the feed's poll carries the revocation.
        await _world.AdminAsync(HttpMethod.Post, "/admin/clients/svc/revoke");
        await EventuallyAsync(async () => (await B.FetchAsync(account.Name, key)).Status == HttpStatusCode.Unauthorized,
            "the other instance refuses the revoked key");

        await EventuallyAsync(async () => (await ListeningBackendsAsync()) is { Count: 2 } now && !now.Intersect(before).Any(),
            "both instances listen for hints again, on new connections");
    }

    [Fact]
    public async Task Without_LISTEN_as_through_a_transaction_pooler_a_revocation_still_reaches_the_other_instance()
    {
        await using var world = await BrokerWorld.StartAsync(brokers: 2, settings: new Dictionary<string, string?>
        {
            ["Broker:Changes:Listen"] = "false",
            ["Broker:Tokens:MemoryCacheMaxAge"] = "00:10:00",
        });
        var account = await world.AccountAsync(DialectNames.SimpleJwt);
        var created = await world.AdminAsync(HttpMethod.Post, "/admin/clients", new { name = "svc", role = "consumer", accounts = new[] { account.Name } },
            HttpStatusCode.Created);
        var key = created["api_key"]!.GetValue<string>();
        world.Secrets.Add(key);
        await world.Brokers[1].TokenAsync(account.Name, key); // created through the other instance: known at once here too

        await world.AdminAsync(HttpMethod.Post, "/admin/clients/svc/revoke");

        await EventuallyAsync(async () => (await world.Brokers[1].FetchAsync(account.Name, key)).Status == HttpStatusCode.Unauthorized,
            "the other instance refuses the revoked key");
    }

    [Fact]
    public async Task Broker_whose_database_is_down_at_start_still_starts_reports_not_ready_and_stops_promptly()
    {
        var closed = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop(); // nothing listens there any more: every connection attempt is refused
        var settings = new Dictionary<string, string?>(_world.Settings)
        {
            ["ConnectionStrings:Broker"] = $"Host=127.0.0.1;Port={port};Username=broker;Database=broker",
            ["Broker:Database:MigrateOnStartup"] = "false",
            ["Broker:Bootstrap:AdminKey"] = null,
        };
        var logs = new LogSink();

        var broker = await BrokerHost.StartAsync(settings, _world.Clock, logs);
        var loops = broker.Services.GetServices<IHostedService>().OfType<BackgroundService>().ToList();
        try
        {
            (await broker.GetAsync("/health/ready", null)).StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            logs.Lines.ShouldContain(line => line.Contains("Cannot read the change feed"));
        }
        finally
        {
            await broker.DisposeAsync();
        }
        // The host waits for each loop until its shutdown timeout, then gives up on it: a loop whose retries held up
        // the stop would still be running here.
        loops.ShouldContain(loop => loop is ChangeFeed);
        loops.Where(loop => loop.ExecuteTask is { IsCompleted: false }).Select(loop => loop.GetType().Name)
            .ShouldBeEmpty("the feed's retries do not hold up the shutdown");
    }

    private async Task<string> ClientAsync(string name, params string[] accounts)
    {
        var created = await _world.AdminAsync(HttpMethod.Post, "/admin/clients", new { name, role = "consumer", accounts }, HttpStatusCode.Created);
        var key = created["api_key"]!.GetValue<string>();
        _world.Secrets.Add(key);
        return key;
    }

    /// <summary>The backends of this test's database that listen for changes (their last query was LISTEN).</summary>
    private Task<List<int>> ListeningBackendsAsync() => _world.ColumnAsync<int>(
        $"SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN {ChangeFeed.Channel}%'");

    /// <summary>Polls until the condition holds; fails after half a minute, far below the caches' ten minutes.</summary>
    private static Task EventuallyAsync(Func<Task<bool>> condition, string what) =>
        Poll.UntilAsync(condition, timeoutSeconds: (int)Deadline.TotalSeconds, what: what);
}
