using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Audit;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Reliability;

/// <summary>
/// What an unauthenticated caller can make the broker do, with the default limits: a flood of made-up keys costs a
/// handful of database lookups and audit rows, and the keys the broker already knows keep being served from cache.
/// </summary>
public sealed class KeyFloodTests : IAsyncLifetime
{
    private const int Budget = 20;
    private const string ClientLookup = "FROM clients"; // Broker:RateLimits:FailedLookupsPerMinute's default, documented in docs/operations.md

    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task Five_thousand_distinct_bad_keys_from_one_address_cost_the_budget_then_429_and_valid_keys_stay_served()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(account.Name);
        var other = await _world.ConsumerAsync(account.Name); // not used before the flood: not cached
        await _world.Broker.TokenAsync(account.Name, key); // the key and the token are cached now
        using var commands = new DatabaseCommands(_world.ConnectionString);

        var statuses = new ConcurrentBag<HttpStatusCode>();
        var served = new ConcurrentBag<HttpStatusCode>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 5000), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
        {
            statuses.Add((await _world.Broker.FetchAsync(account.Name, $"brk_flood-{i:D5}-{Guid.NewGuid():N}")).Status);
            if (i % 50 == 0) served.Add((await _world.Broker.FetchAsync(account.Name, key)).Status);
        });

        // The broker's clock stands still, so the whole flood falls into one minute of the budget.
        statuses.Count(s => s == HttpStatusCode.Unauthorized).ShouldBe(Budget);
        statuses.Count(s => s == HttpStatusCode.TooManyRequests).ShouldBe(5000 - Budget);
        commands.Count(ClientLookup).ShouldBeLessThanOrEqualTo(Budget);
        served.ShouldAllBe(s => s == HttpStatusCode.OK);
        served.Count.ShouldBe(100);

        // A key the broker has not seen yet waits for the next minute; then it is looked up and served.
        (await _world.Broker.FetchAsync(account.Name, other)).Status.ShouldBe(HttpStatusCode.TooManyRequests);
        var lookedUp = commands.Count(ClientLookup);
        _world.Clock.Advance(TimeSpan.FromMinutes(1));
        (await _world.Broker.FetchAsync(account.Name, other)).Status.ShouldBe(HttpStatusCode.OK);
        commands.Count(ClientLookup).ShouldBeGreaterThan(lookedUp); // key lookups are seen

        await _world.DrainAsync();
        var failed = await _world.AuditItemsAsync($"action={AuditActions.AuthFailed}");
        var limited = await _world.AuditItemsAsync($"action={AuditActions.RequestRateLimited}");
        failed.ShouldHaveSingleItem();
        limited.ShouldHaveSingleItem();
        CountIn(failed[0]).ShouldBe(Budget);
        CountIn(limited[0]).ShouldBe(5000 - Budget + 1);
        failed[0]["remote_ip"]!.GetValue<string>().ShouldBe("127.0.0.1");
    }

    [Fact]
    public async Task More_valid_keys_than_the_budget_from_one_address_at_once_are_all_looked_up_and_served()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var keys = new List<string>();
        for (var i = 0; i < Budget * 2; i++) keys.Add(await _world.ConsumerAsync(account.Name));
        await _world.Broker.TokenAsync(account.Name, keys[0]);
        _world.Clock.Advance(TimeSpan.FromMinutes(1)); // every key lookup cached so far has expired

        var statuses = await Task.WhenAll(keys.SelectMany(key => Enumerable.Repeat(key, 5))
            .Select(key => Task.Run(async () => (await _world.Broker.FetchAsync(account.Name, key)).Status)));

        statuses.ShouldAllBe(status => status == HttpStatusCode.OK);
    }

    [Fact]
    public async Task Health_and_swagger_cost_no_key_lookup_and_no_audit_row()
    {
        using var commands = new DatabaseCommands(_world.ConnectionString);
        foreach (var path in new[] { "/health/live", "/health/ready", "/swagger/v1/swagger.json" })
        {
            for (var i = 0; i < 30; i++)
            {
                using var response = await _world.Broker.GetAsync(path, $"brk_scanner-{i}-{Guid.NewGuid():N}");
                response.StatusCode.ShouldBe(HttpStatusCode.OK, path);
            }
        }
        commands.Count(ClientLookup).ShouldBe(0);
        commands.Count("").ShouldBeGreaterThan(0); // the readiness checks' own queries are seen
        await _world.DrainAsync();
        (await _world.CountAsync("action LIKE 'auth.%' OR action LIKE 'request.%'")).ShouldBe(0);
    }

    [Fact]
    public async Task The_per_address_limit_answers_429_before_authentication_on_every_path()
    {
        await using var world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Broker:RateLimits:PerAddressBurst"] = "10",
            ["Broker:RateLimits:PerAddressPerSecond"] = "1",
        });
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 30; i++)
        {
            using var response = await world.Broker.GetAsync(i % 2 == 0 ? "/health/live" : "/v1/accounts/x/token", null);
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                response.Headers.RetryAfter.ShouldNotBeNull();
                (await response.Content.ReadAsStringAsync()).ShouldContain("/errors/rate-limited");
            }
        }
        statuses.Take(10).ShouldNotContain(HttpStatusCode.TooManyRequests); // the burst
        statuses.ShouldContain(HttpStatusCode.TooManyRequests);
    }

    [Fact]
    public async Task X_forwarded_for_names_the_caller_only_when_it_comes_from_a_configured_proxy()
    {
        var ignored = await RemoteIpRecordedAsync(_world);
        ignored.ShouldBe("127.0.0.1");

        await using var behindProxy = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Broker:ForwardedHeaders:KnownProxies:0"] = "127.0.0.1",
        });
        (await RemoteIpRecordedAsync(behindProxy)).ShouldBe("203.0.113.9");
    }

    /// <summary>Sends a bad key claiming to come from 203.0.113.9; returns the address the trail recorded.</summary>
    private static async Task<string> RemoteIpRecordedAsync(BrokerWorld world)
    {
        using var request = world.Broker.Request(HttpMethod.Get, "/v1/accounts/x/token", "brk_not-a-key");
        request.Headers.Add("X-Forwarded-For", "203.0.113.9");
        using (var response = await world.Broker.SendAsync(request)) response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        await world.DrainAsync();
        return (await world.AuditItemsAsync($"action={AuditActions.AuthFailed}")).ShouldHaveSingleItem()["remote_ip"]!.GetValue<string>();
    }

    private static int CountIn(System.Text.Json.Nodes.JsonObject item) =>
        int.Parse(item["detail"]!.GetValue<string>().Split(' ')[0], CultureInfo.InvariantCulture);
}
