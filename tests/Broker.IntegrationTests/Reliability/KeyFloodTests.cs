using System.Globalization;
using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Audit;
using Broker.Infrastructure.Persistence;
using Broker.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Reliability;

/// <summary>
/// What an unauthenticated caller can make the broker do, with the default settings: a flood of made-up keys costs the
/// database feed reads only, at most one per <see cref="ChangeFeed.ShortestGap"/> per instance whatever the number of
/// keys (docs/operations.md), and every valid key, old or created a moment ago on another instance, is served at once.
/// </summary>
public sealed class KeyFloodTests : IAsyncLifetime
{
    private const string ClientLookup = "FROM clients";
    private const string FeedRead = "FROM changes";
    private const int UnknownKeys = 2000;

    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync(brokers: 2);

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task Two_thousand_unknown_keys_from_one_address_leave_known_new_and_admin_keys_served_at_once_on_every_instance()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var known = await _world.ConsumerAsync(account.Name);
        foreach (var broker in _world.Brokers) await broker.TokenAsync(account.Name, known); // the token is cached on each
        using var commands = new DatabaseCommands(_world.ConnectionString);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        // The flood, from this one address, to both instances; meanwhile a client is created through the second.
        var flood = Parallel.ForEachAsync(Enumerable.Range(0, UnknownKeys), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) =>
            (await _world.Brokers[i % 2].FetchAsync(account.Name, $"brk_flood-{i:D5}-{Guid.NewGuid():N}")).Status
                .ShouldBe(HttpStatusCode.Unauthorized));
        using var create = _world.Brokers[1].Request(HttpMethod.Post, "/admin/clients", BrokerWorld.AdminKey,
            System.Net.Http.Json.JsonContent.Create(new { name = "new-svc", role = "consumer", accounts = new[] { account.Name } }));
        using var created = await _world.Brokers[1].SendAsync(create);
        created.StatusCode.ShouldBe(HttpStatusCode.Created);
        var fresh = System.Text.Json.Nodes.JsonNode.Parse(await created.Content.ReadAsStringAsync())!["api_key"]!.GetValue<string>();
        _world.Secrets.Add(fresh);

        // While the flood goes on: the known key, the new key and the admin key, from the same address, on every instance.
        var served = await Task.WhenAll(_world.Brokers.SelectMany(broker => Enumerable.Repeat(known, 5).Concat(Enumerable.Repeat(fresh, 5))
            .Select(async key => (await broker.FetchAsync(account.Name, key)).Status)
            .Append(AdminStatusAsync(broker))));
        await flood;
        var elapsed = clock.Elapsed;

        served.ShouldAllBe(status => status == HttpStatusCode.OK);
        // The new client is read by each instance (twice at most: the admin's own instance reads it, then sees its
        // row in the feed), never once per unknown key.
        commands.Count(s => s.Contains(ClientLookup, StringComparison.Ordinal) && s.Contains("revoked_at IS NULL", StringComparison.Ordinal))
            .ShouldBeLessThanOrEqualTo(2 * _world.Brokers.Count);
        // Feed reads, the only cost of unknown keys: no more than one per ShortestGap per instance over the time.
        var bound = _world.Brokers.Count * ((int)(elapsed / ChangeFeed.ShortestGap) + 2);
        commands.Count(FeedRead).ShouldBeLessThanOrEqualTo(bound, $"{UnknownKeys} unknown keys in {elapsed.TotalSeconds:F1} s");
    }

    private static async Task<HttpStatusCode> AdminStatusAsync(BrokerHost broker)
    {
        using var response = await broker.GetAsync("/admin/clients", BrokerWorld.AdminKey);
        return response.StatusCode;
    }

    [Fact]
    public async Task Forty_valid_keys_never_used_on_this_instance_are_all_served_at_once_without_a_key_lookup()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var keys = new List<string>();
        for (var i = 0; i < 40; i++) keys.Add(await _world.ConsumerAsync(account.Name));
        await _world.Brokers[1].TokenAsync(account.Name, keys[0]);
        // The feed brought the new clients into this instance's directory (reading them is the feed's work, not a lookup).
        await _world.Brokers[1].Services.GetRequiredService<ChangeFeed>().CatchUpAsync(CancellationToken.None);
        using var commands = new DatabaseCommands(_world.ConnectionString);

        var statuses = await Task.WhenAll(keys.SelectMany(key => Enumerable.Repeat(key, 5))
            .Select(key => Task.Run(async () => (await _world.Brokers[1].FetchAsync(account.Name, key)).Status)));

        statuses.ShouldAllBe(status => status == HttpStatusCode.OK);
        commands.Count(ClientLookup).ShouldBe(0);
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

    [Fact]
    public async Task A_flood_of_refusals_is_logged_a_line_per_address_and_minute_and_audited_the_same_way()
    {
        const int EachKind = 300;
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var other = await _world.AccountAsync(DialectNames.SimpleJwt);
        var consumer = await _world.ConsumerAsync(account.Name);
        var broker = _world.Brokers[0];
        var before = _world.Logs.Lines.Count;

        // Made-up keys, connect callbacks with states that lead nowhere, and a consumer asking for names it is not granted.
        await Parallel.ForEachAsync(Enumerable.Range(0, EachKind), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
        {
            (await broker.FetchAsync(account.Name, $"brk_flood-{i:D5}-{Guid.NewGuid():N}")).Status.ShouldBe(HttpStatusCode.Unauthorized);
            using (var callback = await broker.GetAsync($"/oauth/callback?state=made-up-{i}&code=x", null))
                callback.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
            (await broker.FetchAsync(i % 2 == 0 ? other.Name : $"probe-{i}", consumer)).Status.ShouldBe(HttpStatusCode.Forbidden);
        });
        broker.Services.GetRequiredService<Broker.Api.Audit.Recording.RejectionAudit>().Flush(all: true);

        var written = _world.Logs.Lines.Skip(before).ToList();
        written.Count.ShouldBeLessThanOrEqualTo(10, string.Join("\n", written.Take(20)));
        written.Count(l => l.Contains("Refused auth.failed", StringComparison.Ordinal) && l.Contains($"{EachKind} request(s)", StringComparison.Ordinal)).ShouldBe(1);
        written.Count(l => l.Contains("Refused account.connect_failed (unknown_state)", StringComparison.Ordinal)).ShouldBe(1);
        written.Count(l => l.Contains("Refused token.failed (not_granted)", StringComparison.Ordinal)).ShouldBe(1);

        await _world.DrainAsync();
        (await _world.CountAsync("action = 'token.failed' AND outcome = 'not_granted'")).ShouldBe(1);
        (await _world.EventsAsync("action = 'token.failed' AND outcome = 'not_granted'")).ShouldBe(EachKind);
        (await _world.EventsAsync("action = 'account.connect_failed' AND outcome = 'unknown_state'")).ShouldBe(EachKind);
        (await _world.EventsAsync("action = 'auth.failed'")).ShouldBe(EachKind);
    }

    [Theory]
    [InlineData(null, true)] // the default: a /64 is one caller
    [InlineData("128", false)] // each address alone
    public async Task IPv6_callers_count_by_their_network_for_the_per_address_limit(string? prefixLength, bool sharedBucket)
    {
        await using var world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Broker:ForwardedHeaders:KnownProxies:0"] = "127.0.0.1",
            ["Broker:RateLimits:PerAddressBurst"] = "3",
            ["Broker:RateLimits:PerAddressPerSecond"] = "1",
            ["Broker:RateLimits:PerAddressIPv6PrefixLength"] = prefixLength,
        });

        // A new address of one /64 for every request, as a host given the whole /64 can do.
        var statuses = new List<HttpStatusCode>();
        for (var i = 1; i <= 10; i++) statuses.Add(await LiveFromAsync($"2001:db8:1:2::{i:x}"));

        statuses.Take(3).ShouldAllBe(s => s == HttpStatusCode.OK); // the burst
        if (sharedBucket) statuses.Skip(3).ShouldContain(HttpStatusCode.TooManyRequests);
        else statuses.ShouldAllBe(s => s == HttpStatusCode.OK);
        (await LiveFromAsync("2001:db8:1:3::1")).ShouldBe(HttpStatusCode.OK, "another /64 is another caller");

        async Task<HttpStatusCode> LiveFromAsync(string address)
        {
            using var request = world.Broker.Request(HttpMethod.Get, "/health/live", null);
            request.Headers.Add("X-Forwarded-For", address);
            using var response = await world.Broker.SendAsync(request);
            return response.StatusCode;
        }
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
