using System.Net;
using System.Text.Json.Nodes;
using Broker.Domain;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Audit;

/// <summary>What the audit and report endpoints accept and refuse, and that refusals are themselves recorded.</summary>
public sealed class AuditApiTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
    {
        ["Broker:Audit:MaxReportSpan"] = "30.00:00:00",
        ["Broker:RateLimits:Burst"] = "2",
        ["Broker:RateLimits:PerSecond"] = "1",
    });

    public async Task DisposeAsync() => await _world.DisposeAsync();

    private static readonly (string Path, string Field)[] InvalidQueries =
    [
        ("/admin/reports/usage?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z&group_by=day", "from"),
        ("/admin/reports/usage?from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&group_by=day", "from"),
        ("/admin/reports/usage?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z&group_by=day", "to"),
        ("/admin/reports/usage?to=2026-01-02T00:00:00Z&group_by=day", "from"),
        ("/admin/reports/usage?from=2026-01-01T00:00:00Z&group_by=day", "to"),
        ("/admin/reports/usage?from=yesterday&to=2026-01-02T00:00:00Z&group_by=day", "from"),
        ("/admin/reports/usage?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&group_by=week", "group_by"),
        ("/admin/reports/usage?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", "group_by"),
        ("/admin/reports/usage?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&group_by=client,client", "group_by"),
        ("/admin/reports/usage?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&group_by=client&acount=x", "acount"),
        ("/admin/reports/usage?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&group_by=client&action=served", "action"),
        ("/admin/reports/usage?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&group_by=client&action=client.created", "action"),
        ("/admin/reports/usage?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&group_by=client&format=pdf", "format"),
        ("/admin/audit?action=served", "action"),
        ("/admin/audit?acount=x", "acount"),
        ("/admin/audit?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("/admin/audit?from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
        ("/admin/audit?limit=0", "limit"),
        ("/admin/audit?limit=1001", "limit"),
        ("/admin/audit?limit=ten", "limit"),
        ("/admin/audit?cursor=not-a-cursor", "cursor"),
        ("/admin/audit?cursor=MTIzNDU", "cursor"),
        ("/admin/audit?token_hmac=abc", "token_hmac"),
    ];

    [Fact]
    public async Task Invalid_queries_are_answered_400_naming_the_field_and_recorded()
    {
        foreach (var (path, field) in InvalidQueries)
        {
            var (status, body, contentType) = await _world.AdminGetAsync(path);

            status.ShouldBe(HttpStatusCode.BadRequest, $"{path}: {body}");
            contentType.ShouldBe("application/problem+json", path);
            var problem = JsonNode.Parse(body)!;
            problem["type"]!.GetValue<string>().ShouldBe("https://broker.dev/errors/bad-request", path);
            problem["errors"]![field].ShouldNotBeNull($"{path}: {body}");
        }

        // One request.failed row each, naming the route (never the query, which may carry a caller's text).
        await _world.DrainAsync();
        var recorded = await _world.AuditItemsAsync($"action={AuditActions.RequestFailed}");
        recorded.Select(i => $"{i["outcome"]} {i["client"]} {i["detail"]}").Order().ShouldBe(
            InvalidQueries.Select(q => $"bad_request bootstrap-admin GET {q.Path[..q.Path.IndexOf('?')]}").Order());
    }

    [Fact]
    public async Task Refusals_of_unknown_parameters_and_actions_list_the_valid_ones()
    {
        var (_, audit, _) = await _world.AdminGetAsync("/admin/audit?action=served&clinet=x");
        var errors = JsonNode.Parse(audit)!["errors"]!;
        errors["action"]![0]!.GetValue<string>().ShouldContain("token.served");
        errors["action"]![0]!.GetValue<string>().ShouldContain("client.created");
        errors["clinet"]![0]!.GetValue<string>().ShouldContain("token_hmac");

        var (_, report, _) = await _world.AdminGetAsync("/admin/reports/usage?from=2026-01-01&to=2026-01-02&group_by=client&action=served&clinet=x");
        errors = JsonNode.Parse(report)!["errors"]!;
        errors["action"]![0]!.GetValue<string>().ShouldContain("token.served");
        errors["action"]![0]!.GetValue<string>().ShouldNotContain("client.created"); // the report does not count admin changes
        errors["clinet"]![0]!.GetValue<string>().ShouldContain("provider");
    }

    [Fact]
    public async Task Admins_own_failed_requests_are_not_counted_as_consumer_failures()
    {
        var account = await _world.AccountAsync("simplejwt");
        var key = await _world.ConsumerAsync(account.Name);
        var from = AuditSupport.Iso(_world.Clock.GetUtcNow().AddHours(-1));
        var to = AuditSupport.Iso(_world.Clock.GetUtcNow().AddHours(1));
        (await _world.AdminGetAsync($"/admin/reports/usage?from={from}&to={to}&group_by=week")).Status.ShouldBe(HttpStatusCode.BadRequest);
        (await _world.Broker.GetAsync($"/v1/accounts/{account.Name}/token?min_validity=soon", key)).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        await _world.DrainAsync();
        (await _world.AuditItemsAsync($"action={AuditActions.RequestFailed}")).Count.ShouldBe(2); // both are in the trail

        var rows = (await _world.AdminAsync(HttpMethod.Get, $"/admin/reports/usage?from={from}&to={to}&group_by=client"))["rows"]!.AsArray();
        rows.Select(r => r!["keys"]!["client"]?.GetValue<string>()).ShouldNotContain("bootstrap-admin");
        rows.Sum(r => r!["failures"]!.GetValue<long>()).ShouldBe(1);
    }

    [Fact]
    public async Task The_longest_report_span_is_a_setting()
    {
        (await _world.AdminGetAsync("/admin/reports/usage?from=2026-01-01T00:00:00Z&to=2026-01-31T00:00:00Z&group_by=client")).Status
            .ShouldBe(HttpStatusCode.OK);
        (await _world.AdminGetAsync("/admin/reports/usage?from=2026-01-01T00:00:00Z&to=2026-01-31T00:00:01Z&group_by=client")).Status
            .ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task An_empty_range_gives_an_empty_report_and_a_last_page()
    {
        var report = await _world.AdminAsync(HttpMethod.Get, "/admin/reports/usage?from=2020-01-01&to=2020-01-02&group_by=provider");
        report["rows"]!.AsArray().ShouldBeEmpty();
        report["from"]!.GetValue<DateTimeOffset>().ShouldBe(new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero));

        var page = await _world.AdminAsync(HttpMethod.Get, "/admin/audit?from=2020-01-01&to=2020-01-02");
        page["items"]!.AsArray().ShouldBeEmpty();
        page["next_cursor"].ShouldBeNull();
    }

    [Fact]
    public async Task Consumers_may_not_read_the_trail_or_the_reports_and_their_attempts_are_recorded()
    {
        var account = await _world.AccountAsync("sliderule");
        var key = await _world.ConsumerAsync(account.Name);

        (await _world.Broker.GetAsync("/admin/audit", key)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await _world.Broker.GetAsync("/admin/reports/usage?from=2026-01-01&to=2026-01-02&group_by=day", key)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await _world.Broker.GetAsync("/admin/audit", null)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        await _world.DrainAsync();
        (await _world.AuditItemsAsync("action=auth.forbidden")).Select(i => i["detail"]!.GetValue<string>()).Reverse()
            .ShouldBe(["GET /admin/audit", "GET /admin/reports/usage"]);
        (await _world.AuditItemsAsync("action=auth.failed")).Select(i => $"{i["outcome"]} {i["detail"]}")
            .ShouldHaveSingleItem().ShouldEndWith("UTC (no API key: 1)");
    }

    [Fact]
    public async Task Swagger_documents_the_audit_endpoints_with_their_problems()
    {
        using var response = await _world.Broker.GetAsync("/swagger/v1/swagger.json", null);
        var paths = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["paths"]!;

        foreach (var (path, method) in new[] { ("/admin/audit", "get"), ("/admin/audit/token-hmac", "post"), ("/admin/reports/usage", "get") })
        {
            var operation = paths[path]![method]!;
            operation["summary"]!.GetValue<string>().ShouldNotBeNullOrWhiteSpace();
            operation["responses"]!.AsObject().Select(r => r.Key).ShouldBe(["200", "400", "401", "403", "503"], ignoreOrder: true);
        }
        paths["/admin/reports/usage"]!["get"]!["responses"]!["200"]!["content"]!.AsObject().Select(c => c.Key)
            .ShouldBe(["application/json", "text/csv", "image/svg+xml"], ignoreOrder: true);
    }

    [Fact]
    public async Task Every_rate_limited_request_is_counted_once()
    {
        var account = await _world.AccountAsync("simplejwt");
        var key = await _world.ConsumerAsync(account.Name);

        var statuses = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ => (await _world.Broker.FetchAsync(account.Name, key)).Status));
        var limited = statuses.Count(s => s == HttpStatusCode.TooManyRequests);
        limited.ShouldBeGreaterThan(0);
        statuses.Count(s => s == HttpStatusCode.OK).ShouldBe(8 - limited);

        await _world.DrainAsync();
        // Counted per client, address and minute: one row (two, should the requests straddle a minute), with the count.
        var recorded = await _world.AuditItemsAsync($"action={AuditActions.RequestRateLimited}");
        recorded.Count.ShouldBeInRange(1, 2);
        recorded.ShouldAllBe(i => i["outcome"]!.GetValue<string>() == "too_many_requests" && i["client"] != null && i["remote_ip"] != null);
        recorded.Sum(i => i["count"]!.GetValue<int>()).ShouldBe(limited);
        (await _world.AuditItemsAsync($"action={AuditActions.TokenServed}")).Sum(i => i["count"]!.GetValue<int>()).ShouldBe(8 - limited);
    }
}
