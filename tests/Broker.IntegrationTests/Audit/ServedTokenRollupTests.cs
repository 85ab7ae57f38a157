using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Broker.Domain;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Audit;

/// <summary>
/// Served tokens are written as rollups (one row per client, account, token, address and hit/miss per window): the
/// counts add up to exactly the tokens handed out, however many callers, instances, windows and renewals.
/// </summary>
public sealed class ServedTokenRollupTests : IAsyncDisposable
{
    private static readonly string[] Addresses = ["10.0.0.1", "10.0.0.2", "192.0.2.7", "2001:db8::5"];
    private BrokerWorld _world = null!;

    private async Task StartAsync(int brokers, string rollupWindow, string rollupPeriod = "00:01:00") => _world = await BrokerWorld.StartAsync(brokers, new Dictionary<string, string?>
    {
        ["Broker:Audit:RollupWindow"] = rollupWindow,
        ["Broker:Audit:RollupPeriod"] = rollupPeriod,
        // The test's loopback address is a proxy whose X-Forwarded-For names the caller.
        ["Broker:ForwardedHeaders:KnownProxies:0"] = "127.0.0.1",
        ["Broker:ForwardedHeaders:KnownProxies:1"] = "::1",
    });

    public async ValueTask DisposeAsync()
    {
        if (_world is not null) await _world.DisposeAsync();
    }

    [Fact]
    public async Task The_counts_of_the_rollups_equal_the_tokens_served_per_client_account_token_and_address()
    {
        await StartAsync(brokers: 2, rollupWindow: "00:00:00.100"); // short windows: a run spans many of them
        var accounts = new[] { await _world.AccountAsync(DialectNames.SimpleJwt), await _world.AccountAsync(DialectNames.Keycloak),
            await _world.AccountAsync(DialectNames.SlideRule) }.Select(a => a.Name).ToArray();
        var clients = new List<(string Name, string Key)>();
        for (var i = 0; i < 3; i++)
        {
            var name = $"rollup-client-{i}";
            var created = await _world.AdminAsync(HttpMethod.Post, "/admin/clients", new { name, role = "consumer", accounts }, HttpStatusCode.Created);
            clients.Add((name, created["api_key"]!.GetValue<string>()));
        }

        var served = new ConcurrentBag<(string Client, string Account, string Token, string Address)>();
        async Task Round(int round)
        {
            // 16 callers at once, over both instances, every client, account and address.
            await Task.WhenAll(Enumerable.Range(0, 16).Select(async caller =>
            {
                for (var i = 0; i < 30; i++)
                {
                    var n = round * 1000 + caller * 30 + i;
                    var (client, key) = clients[n % clients.Count];
                    var account = accounts[n / 3 % accounts.Length];
                    var address = Addresses[n / 7 % Addresses.Length];
                    var broker = _world.Brokers[n % _world.Brokers.Count];
                    using var request = broker.Request(HttpMethod.Get, $"/v1/accounts/{account}/token", key);
                    request.Headers.Add("X-Forwarded-For", address);
                    using var response = await broker.SendAsync(request);
                    response.StatusCode.ShouldBe(HttpStatusCode.OK);
                    var token = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["access_token"]!.GetValue<string>();
                    served.Add((client, account, token, address));
                }
            }));
        }

        await Round(0);
        // Written when the window ends, not only on shutdown.
        await Poll.UntilAsync(async () => await _world.EventsAsync("action = 'token.served'") == served.Count);

        // A renewal in the middle: the next fetches of this account are handed a new token.
        await _world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{accounts[0]}/revoke");
        await Round(1);
        await _world.DrainAsync(); // a graceful stop writes the open window

        served.Select(s => s.Token).Distinct().Count().ShouldBeGreaterThan(accounts.Length, "the revoked account was handed a second token");
        (await _world.EventsAsync("action = 'token.served'")).ShouldBe(served.Count);
        foreach (var group in served.GroupBy(s => s.Client))
            (await _world.EventsAsync("action = 'token.served' AND client_name = $1", group.Key)).ShouldBe(group.Count(), group.Key);
        foreach (var group in served.GroupBy(s => s.Account))
            (await _world.EventsAsync("action = 'token.served' AND account_name = $1", group.Key)).ShouldBe(group.Count(), group.Key);
        foreach (var group in served.GroupBy(s => s.Address))
            (await _world.EventsAsync("action = 'token.served' AND remote_ip = $1", group.Key)).ShouldBe(group.Count(), group.Key);

        // Who was handed each token, as an admin finds out: its hmac, then the trail.
        foreach (var group in served.GroupBy(s => s.Token))
        {
            var hmac = (await _world.AdminAsync(HttpMethod.Post, "/admin/audit/token-hmac", new { access_token = group.Key }))["token_hmac"]!.GetValue<string>();
            var items = await _world.AuditItemsAsync($"action=token.served&token_hmac={hmac}");
            items.Sum(i => i["count"]!.GetValue<int>()).ShouldBe(group.Count());
            items.Select(i => i["client"]!.GetValue<string>()).Distinct().Order().ShouldBe(group.Select(s => s.Client).Distinct().Order());
        }

        var rows = await _world.AuditItemsAsync("action=token.served");
        rows.ShouldAllBe(r => r["first_at"]!.GetValue<DateTimeOffset>() <= r["at"]!.GetValue<DateTimeOffset>() &&
                              r["at"]!.GetValue<DateTimeOffset>() <= r["last_at"]!.GetValue<DateTimeOffset>());

        // The usage report sums the counts.
        var from = AuditSupport.Iso(_world.Clock.GetUtcNow().AddHours(-1));
        var to = AuditSupport.Iso(_world.Clock.GetUtcNow().AddHours(1));
        var report = await _world.AdminAsync(HttpMethod.Get, $"/admin/reports/usage?from={from}&to={to}&group_by=client");
        foreach (var row in report["rows"]!.AsArray())
            row!["served"]!.GetValue<long>().ShouldBe(served.Count(s => s.Client == row["keys"]!["client"]!.GetValue<string>()));
    }

    [Fact]
    public async Task The_fetches_of_one_window_are_one_row_per_client_account_token_address_and_outcome()
    {
        await StartAsync(brokers: 1, rollupWindow: "01:00:00"); // no window ends during the test: the stop writes it
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(account.Name);

        await _world.Broker.TokenAsync(account.Name, key); // a miss: logs in
        foreach (var address in Addresses.Take(2))
            for (var i = 0; i < 25; i++)
            {
                using var request = _world.Broker.Request(HttpMethod.Get, $"/v1/accounts/{account.Name}/token", key);
                request.Headers.Add("X-Forwarded-For", address);
                using var response = await _world.Broker.SendAsync(request);
                response.StatusCode.ShouldBe(HttpStatusCode.OK);
            }
        await _world.DrainAsync();

        var rows = (await _world.AuditItemsAsync("action=token.served")).Select(r => $"{r["outcome"]} {r["remote_ip"]} {r["count"]}").Order();
        rows.ShouldBe(["hit 10.0.0.1 25", "hit 10.0.0.2 25", "miss 127.0.0.1 1"]);
    }

    [Fact]
    public async Task Windows_of_many_accounts_on_several_instances_merge_into_one_row_per_key_and_period()
    {
        // Short windows, a long period: every window of the test, on both instances, adds to the same rows.
        await StartAsync(brokers: 2, rollupWindow: "00:00:00.050", rollupPeriod: "1.00:00:00");
        var accounts = new List<string>();
        for (var i = 0; i < 12; i++) accounts.Add((await _world.AccountAsync(DialectNames.SimpleJwt)).Name);
        var key = await _world.ConsumerAsync([.. accounts]);

        var served = 0;
        for (var round = 0; round < 3; round++)
        {
            foreach (var broker in _world.Brokers)
                foreach (var account in accounts)
                {
                    await broker.TokenAsync(account, key);
                    served++;
                }
            // Each round is written (its windows ended) before the next begins: the next adds to the same rows.
            await Poll.UntilAsync(async () => await _world.EventsAsync("action = 'token.served'") == served);
        }
        await _world.DrainAsync();

        (await _world.EventsAsync("action = 'token.served'")).ShouldBe(served);
        (await _world.CountAsync("action = 'token.served' AND period_start IS NULL")).ShouldBe(0);
        // One miss (the login) and one hit row per account and period: not a row per window, nor per instance.
        var periods = await _world.ScalarAsync<long>("SELECT count(DISTINCT period_start) FROM audit_events WHERE action = 'token.served'");
        (await _world.CountAsync("action = 'token.served'")).ShouldBeLessThanOrEqualTo(accounts.Count * 2 * periods);
        (await _world.ScalarAsync<long>("""
            SELECT count(*) FROM (SELECT 1 FROM audit_events WHERE action = 'token.served'
                                   GROUP BY period_start, client_id, account_id, token_hmac, outcome, remote_ip HAVING count(*) > 1) d
            """)).ShouldBe(0);
    }

    [Fact]
    public async Task A_rollup_row_keeps_its_time_while_its_period_counts_and_is_rewritten_in_place()
    {
        await StartAsync(brokers: 1, rollupWindow: "00:00:00.050", rollupPeriod: "1.00:00:00");
        var accounts = new List<string>();
        for (var i = 0; i < 12; i++) accounts.Add((await _world.AccountAsync(DialectNames.SimpleJwt)).Name);
        var key = await _world.ConsumerAsync([.. accounts]);
        const string Rows = "SELECT account_name || ' ' || outcome || ' ' || at FROM audit_events WHERE action = 'token.served' ORDER BY 1";

        var served = 0;
        async Task RoundAsync()
        {
            foreach (var account in accounts)
            {
                await _world.Broker.TokenAsync(account, key);
                served++;
            }
            await Poll.UntilAsync(async () => await _world.EventsAsync("action = 'token.served'") == served);
        }
        await RoundAsync(); // the misses' rows (logins), then the hits' rows
        await RoundAsync();
        var written = await _world.ColumnAsync<string>(Rows);
        var updatesBefore = await _world.ScalarAsync<long>("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'audit_events'");
        var lastBefore = await _world.ScalarAsync<DateTime>("SELECT max(last_at) FROM audit_events WHERE action = 'token.served'");

        for (var round = 0; round < 4; round++)
        {
            _world.Clock.Advance(TimeSpan.FromMilliseconds(1)); // the test's clock stands still otherwise
            await RoundAsync();
        }

        // Each hit row was merged into four more times: its count and last time grew, its time (the listing's order) did not.
        (await _world.ColumnAsync<string>(Rows)).ShouldBe(written);
        (await _world.CountAsync("action = 'token.served' AND outcome = 'hit' AND count = 5")).ShouldBe(accounts.Count);
        (await _world.ScalarAsync<DateTime>("SELECT min(last_at) FROM audit_events WHERE action = 'token.served' AND outcome = 'hit'"))
            .ShouldBeGreaterThan(lastBefore);
        // No index holds a column the merge changes, so PostgreSQL rewrites the rows in place (HOT: no new index
        // entries). One that did would make every update a full one. The statistics arrive a moment after the commits.
        var expected = updatesBefore + 4 * accounts.Count;
        await Poll.UntilAsync(async () => await _world.ScalarAsync<long>(
            "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'audit_events'") >= expected, what: "the update statistics");
        var updates = (await _world.RowsAsync("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'audit_events'")).Single();
        var (all, inPlace) = ((long)updates[0]!, (long)updates[1]!);
        inPlace.ShouldBeGreaterThan(all / 2, $"{inPlace} of {all} updates of audit_events were in place");
    }

    [Fact]
    public async Task A_row_of_one_event_has_count_one_and_its_own_time_as_first_and_last()
    {
        await StartAsync(brokers: 1, rollupWindow: "00:00:01");
        await _world.AdminAsync(HttpMethod.Get, "/admin/accounts/no-such-account", expect: HttpStatusCode.NotFound);
        await _world.DrainAsync();

        var item = (await _world.AuditItemsAsync("action=request.failed")).ShouldHaveSingleItem();
        item["count"]!.GetValue<int>().ShouldBe(1);
        item["first_at"]!.GetValue<DateTimeOffset>().ShouldBe(item["at"]!.GetValue<DateTimeOffset>());
        item["last_at"]!.GetValue<DateTimeOffset>().ShouldBe(item["at"]!.GetValue<DateTimeOffset>());
    }
}
