using System.Net;
using System.Text.Json.Nodes;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Audit;

/// <summary>The trail and the usage report after the real traffic of <see cref="AuditTrafficFixture"/>.</summary>
public sealed class AuditTrailTests(AuditTrafficFixture traffic) : IClassFixture<AuditTrafficFixture>
{
    private BrokerWorld World => traffic.World;
    private string Range => $"from={AuditSupport.Iso(traffic.From)}&to={AuditSupport.Iso(traffic.To)}";

    [Fact]
    public async Task Every_request_leaves_exactly_the_expected_audit_rows()
    {
        var items = await World.AuditItemsAsync(Range);
        items.Reverse(); // oldest first, the order of the steps

        string A = traffic.Account.Name, C = traffic.Rejected.Name, P = traffic.Provider, K = AuditTrafficFixture.ConsumerName;
        items.Select(Row).ShouldBe(
        [
            $"token.obtained granted {K} {A} {P} 200",
            $"token.served miss {K} {A} {P} -",
            $"token.served hit {K} {A} {P} -",
            $"token.refreshed granted {K} {A} {P} 200",
            $"token.served miss {K} {A} {P} -",
            $"token.failed not_granted {K} {AuditTrafficFixture.NotGranted} - -",
            $"token.obtained credentials_rejected {K} {C} {P} 401",
            $"token.failed needs_attention {K} {C} {P} -",
            "auth.failed unauthorized - - - -", // steps 6 and 7: one row for the address and minute, with the count
            $"auth.forbidden forbidden {K} - - -",
            $"request.failed bad_request {K} {A} - -",
            $"account.updated ok bootstrap-admin {C} {P} -",
        ]);

        items.ShouldAllBe(i => i["request_id"]!.GetValue<string>().Length > 0 && i["remote_ip"]!.GetValue<string>() == "127.0.0.1");
        items.Where(i => i["upstream_status"] != null).ShouldAllBe(i => i["upstream_ms"] != null && i["upstream_ms"]!.GetValue<int>() >= 0);
        items[8]["detail"]!.GetValue<string>().ShouldMatch(
            @"^2 request\(s\) from \d\d:\d\d:\d\d to \d\d:\d\d:\d\d UTC \(unknown or revoked API key: 1, no API key: 1\)$");
        items[9]["detail"]!.GetValue<string>().ShouldBe("GET /admin/accounts");
        items[11]["detail"]!.GetValue<string>().ShouldBe("changed: password");
    }

    [Fact]
    public async Task Served_and_obtained_tokens_are_recorded_by_their_keyed_hash_and_can_be_traced()
    {
        var login = await HmacOf(traffic.AccessTokens[0]);
        var refresh = await HmacOf(traffic.AccessTokens[2]);
        login.ShouldNotBe(refresh);
        login.ShouldMatch("^[0-9a-f]{64}$");

        var traced = await World.AuditItemsAsync($"{Range}&token_hmac={login}");
        traced.Select(i => $"{i["action"]} {i["outcome"]} {i["client"]}").Reverse().ShouldBe(
            ["token.obtained granted audit-svc", "token.served miss audit-svc", "token.served hit audit-svc"]);
        (await World.AuditItemsAsync($"{Range}&token_hmac={refresh}")).Count.ShouldBe(2);
    }

    [Fact]
    public async Task Usage_report_counts_served_tokens_logins_refreshes_and_failures_per_account()
    {
        var report = await World.AdminAsync(HttpMethod.Get, $"/admin/reports/usage?{Range}&group_by=account");

        report["group_by"]!.AsArray().Select(k => k!.GetValue<string>()).ShouldBe(["account"]);
        report["from"]!.GetValue<DateTimeOffset>().ShouldBe(traffic.From);
        report["to"]!.GetValue<DateTimeOffset>().ShouldBe(traffic.To);
        // Failures without an account: the auth.failed row that counts 2 requests (steps 6 and 7), and the forbidden one.
        Rows(report).ShouldBe(
        [
            $"{AuditTrafficFixture.NotGranted} 0 0 0 1",
            $"{traffic.Account.Name} 3 1 1 1",
            $"{traffic.Rejected.Name} 0 1 0 1",
            "- 0 0 0 3",
        ]);
    }

    [Fact]
    public async Task Usage_report_groups_by_client_provider_and_day()
    {
        Rows(await World.AdminAsync(HttpMethod.Get, $"/admin/reports/usage?{Range}&group_by=client"))
            .ShouldBe([$"{AuditTrafficFixture.ConsumerName} 3 2 1 4", "- 0 0 0 2"]);
        Rows(await World.AdminAsync(HttpMethod.Get, $"/admin/reports/usage?{Range}&group_by=provider"))
            .ShouldBe([$"{traffic.Provider} 3 2 1 1", "- 0 0 0 5"]);

        var days = (await World.AdminAsync(HttpMethod.Get, $"/admin/reports/usage?{Range}&group_by=day"))["rows"]!.AsArray();
        days.Select(d => d!["keys"]!["day"]!.GetValue<string>()).ShouldAllBe(key => System.Text.RegularExpressions.Regex.IsMatch(key, @"^\d{4}-\d{2}-\d{2}$"));
        days.Sum(d => d!["served"]!.GetValue<long>()).ShouldBe(3);
        days.Sum(d => d!["logins"]!.GetValue<long>()).ShouldBe(2);
        days.Sum(d => d!["refreshes"]!.GetValue<long>()).ShouldBe(1);
        days.Sum(d => d!["failures"]!.GetValue<long>()).ShouldBe(6);
    }

    [Fact]
    public async Task Usage_report_answers_which_client_used_which_account_how_often()
    {
        string K = AuditTrafficFixture.ConsumerName, A = traffic.Account.Name, C = traffic.Rejected.Name;
        var report = await World.AdminAsync(HttpMethod.Get, $"/admin/reports/usage?{Range}&group_by=client,account");

        report["group_by"]!.AsArray().Select(k => k!.GetValue<string>()).ShouldBe(["client", "account"]);
        report["rows"]![0]!["keys"]!.AsObject().Select(k => k.Key).ShouldBe(["client", "account"]);
        Rows(report).ShouldBe(
        [
            $"{K}/{AuditTrafficFixture.NotGranted} 0 0 0 1",
            $"{K}/{A} 3 1 1 1",
            $"{K}/{C} 0 1 0 1",
            $"{K}/- 0 0 0 1",
            "-/- 0 0 0 2",
        ]);

        var hours = await World.AdminAsync(HttpMethod.Get, $"/admin/reports/usage?{Range}&group_by=provider,hour");
        hours["rows"]!.AsArray().Select(r => r!["keys"]!["hour"]!.GetValue<string>())
            .ShouldAllBe(hour => System.Text.RegularExpressions.Regex.IsMatch(hour, @"^\d{4}-\d{2}-\d{2}T\d{2}:00Z$"));
    }

    [Fact]
    public async Task Usage_report_filters_by_client_account_provider_and_action()
    {
        string K = AuditTrafficFixture.ConsumerName, A = traffic.Account.Name;
        Rows(await World.AdminAsync(HttpMethod.Get, $"/admin/reports/usage?{Range}&group_by=client&client={K}")).ShouldBe([$"{K} 3 2 1 4"]);
        Rows(await World.AdminAsync(HttpMethod.Get, $"/admin/reports/usage?{Range}&group_by=client&client=someone-else")).ShouldBeEmpty();
        Rows(await World.AdminAsync(HttpMethod.Get, $"/admin/reports/usage?{Range}&group_by=client&account={A}")).ShouldBe([$"{K} 3 1 1 1"]);
        Rows(await World.AdminAsync(HttpMethod.Get, $"/admin/reports/usage?{Range}&group_by=account&provider={traffic.Provider}"))
            .ShouldBe([$"{A} 3 1 1 0", $"{traffic.Rejected.Name} 0 1 0 1"]);
        var served = await World.AdminAsync(HttpMethod.Get, $"/admin/reports/usage?{Range}&group_by=account&action=token.served&client={K}");
        Rows(served).ShouldBe([$"{A} 3 0 0 0"]);
        served["filters"]!["action"]!.GetValue<string>().ShouldBe("token.served");
        served["filters"]!["client"]!.GetValue<string>().ShouldBe(K);
    }

    [Fact]
    public async Task Usage_report_is_csv_when_the_caller_accepts_text_csv()
    {
        var (status, body, contentType) = await World.AdminGetAsync($"/admin/reports/usage?{Range}&group_by=account", "text/csv");

        status.ShouldBe(HttpStatusCode.OK, body);
        contentType.ShouldBe("text/csv");
        body.ShouldBe(
            "account,served,logins,refreshes,failures\r\n" +
            $"{AuditTrafficFixture.NotGranted},0,0,0,1\r\n" +
            $"{traffic.Account.Name},3,1,1,1\r\n" +
            $"{traffic.Rejected.Name},0,1,0,1\r\n" +
            "(no account),0,0,0,3\r\n");

        var (_, both, _) = await World.AdminGetAsync($"/admin/reports/usage?{Range}&group_by=client,account&format=csv");
        both.Split("\r\n")[0].ShouldBe("client,account,served,logins,refreshes,failures");
        both.ShouldContain($"\r\n{AuditTrafficFixture.ConsumerName},{traffic.Account.Name},3,1,1,1\r\n");
    }

    [Fact]
    public async Task Paging_walks_every_event_newest_first_without_gaps_or_repeats()
    {
        var all = await World.AuditItemsAsync(Range);
        var paged = await World.AuditItemsAsync(Range, limit: 2);

        paged.Select(Row).ShouldBe(all.Select(Row));
        paged.Select(i => i["request_id"]!.GetValue<string>()).ShouldBe(all.Select(i => i["request_id"]!.GetValue<string>()));
        all.Select(i => i["at"]!.GetValue<DateTimeOffset>()).ShouldBeInOrder(SortDirection.Descending);
    }

    [Fact]
    public async Task Filters_select_by_client_account_and_action()
    {
        (await World.AuditItemsAsync($"{Range}&client={AuditTrafficFixture.ConsumerName}")).Count.ShouldBe(10);
        (await World.AuditItemsAsync($"{Range}&account={traffic.Account.Name}")).Count.ShouldBe(6);
        (await World.AuditItemsAsync($"{Range}&action=token.served")).Count.ShouldBe(3);
        (await World.AuditItemsAsync($"{Range}&action=token.served&account={traffic.Rejected.Name}")).ShouldBeEmpty();
    }

    [Fact]
    public async Task Audit_table_holds_no_secret_or_token_the_test_used()
    {
        traffic.Secrets.Count.ShouldBeGreaterThan(8);
        var rows = await World.ColumnAsync<string>("SELECT e::text FROM audit_events e");

        rows.Count.ShouldBeGreaterThan(12);
        foreach (var secret in traffic.Secrets)
            rows.ShouldNotContain(row => row.Contains(secret, StringComparison.Ordinal), $"a secret of length {secret.Length} is in the trail");
    }

    private async Task<string> HmacOf(string token) =>
        (await World.AdminAsync(HttpMethod.Post, "/admin/audit/token-hmac", new { access_token = token }))["token_hmac"]!.GetValue<string>();

    private static string Row(JsonObject i) =>
        $"{i["action"]} {i["outcome"]} {i["client"] ?? "-"} {i["account"] ?? "-"} {i["provider"] ?? "-"} {i["upstream_status"]?.ToString() ?? "-"}";

    private static List<string> Rows(JsonObject report) =>
        report["rows"]!.AsArray().Select(r =>
            $"{string.Join("/", r!["keys"]!.AsObject().Select(k => k.Value?.GetValue<string>() ?? "-"))} {r["served"]} {r["logins"]} {r["refreshes"]} {r["failures"]}").ToList();
}
