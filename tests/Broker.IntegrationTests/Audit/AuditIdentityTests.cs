using System.Net;
using System.Text.Json.Nodes;
using Broker.Domain;
using Broker.IntegrationTests.Identity;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Audit;

/// <summary>
/// docs/audit.md, the <c>identity</c> column: served-token rollups and refusals name how the caller authenticated
/// (which key, which workload identity), one rollup row per identity, and the trail and the usage report find them.
/// </summary>
public sealed class AuditIdentityTests : IAsyncLifetime
{
    private const string ClusterIssuer = "https://kubernetes.default.svc.cluster.local";
    private readonly TokenSigner _cluster = new(ClusterIssuer, "k1");
    private BrokerWorld _world = null!;
    private string _account = null!;

    public async Task InitializeAsync()
    {
        _world = await BrokerWorld.StartAsync();
        _account = (await _world.AccountAsync(DialectNames.SimpleJwt)).Name;
        // A static JWKS: how the issuer's keys are found is WorkloadIdentityTests' concern, not the trail's.
        await _world.AdminAsync(HttpMethod.Post, "/admin/issuers",
            new { name = "prod-cluster", issuer = ClusterIssuer, audience = "broker", jwks = JsonNode.Parse(_cluster.Jwks()) }, HttpStatusCode.Created);
    }

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task Each_key_and_workload_identity_of_a_client_has_its_own_served_rollup_and_report_row()
    {
        var created = await _world.AdminAsync(HttpMethod.Post, "/admin/clients",
            new { name = "payments", role = "consumer", accounts = new[] { _account } }, HttpStatusCode.Created);
        var oldKey = created["api_key"]!.GetValue<string>();
        var oldIdentity = "key:" + created["key_prefix"]!.GetValue<string>();
        await _world.AdminAsync(HttpMethod.Post, "/admin/clients/payments/identities",
            new { issuer = "prod-cluster", subject = "system:serviceaccount:payments:api" }, HttpStatusCode.Created);
        var jwt = _cluster.Kubernetes(_world.Clock.GetUtcNow(), "payments", "api");
        const string jwtIdentity = $"jwt:{ClusterIssuer} system:serviceaccount:payments:api";

        for (var i = 0; i < 3; i++) (await _world.Broker.FetchAsync(_account, oldKey)).Status.ShouldBe(HttpStatusCode.OK);
        var rotated = await _world.AdminAsync(HttpMethod.Post, "/admin/clients/payments/rotate", new { overlap_seconds = 600 });
        var newKey = rotated["api_key"]!.GetValue<string>();
        var newIdentity = "key:" + rotated["key_prefix"]!.GetValue<string>();
        _world.Secrets.AddRange([oldKey, newKey, jwt]);
        for (var i = 0; i < 2; i++) (await _world.Broker.FetchAsync(_account, oldKey)).Status.ShouldBe(HttpStatusCode.OK, "in its overlap");
        for (var i = 0; i < 4; i++) (await _world.Broker.FetchAsync(_account, newKey)).Status.ShouldBe(HttpStatusCode.OK);
        for (var i = 0; i < 5; i++) (await _world.Broker.FetchAsync(_account, jwt)).Status.ShouldBe(HttpStatusCode.OK);
        await _world.DrainAsync();

        var served = await _world.RowsAsync(
            "SELECT identity, sum(count)::bigint FROM audit_events WHERE action = 'token.served' GROUP BY identity");
        served.ToDictionary(r => (string)r[0]!, r => (long)r[1]!).ShouldBe(new Dictionary<string, long>
        {
            [oldIdentity] = 5, [newIdentity] = 4, [jwtIdentity] = 5,
        }, ignoreOrder: true);
        (await _world.ScalarAsync<long>("""
            SELECT max(n) FROM (SELECT count(*) AS n FROM audit_events WHERE action = 'token.served' GROUP BY identity, outcome) AS rows
            """)).ShouldBe(1, "one rollup row per identity and hit/miss in the period (the clock stands still)");

        var items = await _world.AuditItemsAsync($"action=token.served&identity={Uri.EscapeDataString(jwtIdentity)}");
        items.Single()["identity"]!.GetValue<string>().ShouldBe(jwtIdentity);
        items.Single()["count"]!.GetValue<int>().ShouldBe(5);

        var now = _world.Clock.GetUtcNow();
        var report = await _world.AdminAsync(HttpMethod.Get,
            $"/admin/reports/usage?from={AuditSupport.Iso(now.AddHours(-1))}&to={AuditSupport.Iso(now.AddHours(1))}&group_by=client,identity&action=token.served");
        report["rows"]!.AsArray()
            .ToDictionary(r => r!["keys"]!["identity"]!.GetValue<string>(), r => r!["served"]!.GetValue<long>())
            .ShouldBe(new Dictionary<string, long> { [oldIdentity] = 5, [newIdentity] = 4, [jwtIdentity] = 5 }, ignoreOrder: true);
    }

    [Fact]
    public async Task A_refusal_after_authentication_names_the_identity_and_a_refused_key_names_none()
    {
        var created = await _world.AdminAsync(HttpMethod.Post, "/admin/clients",
            new { name = "reports", role = "consumer", accounts = new[] { _account } }, HttpStatusCode.Created);
        var key = created["api_key"]!.GetValue<string>();
        _world.Secrets.Add(key);

        (await _world.Broker.FetchAsync("an-account-it-is-not-granted", key)).Status.ShouldBe(HttpStatusCode.Forbidden);
        (await _world.Broker.FetchAsync(_account, "brk_made-up-key-000000000000000000000000000")).Status.ShouldBe(HttpStatusCode.Unauthorized);
        await _world.DrainAsync();

        (await _world.ColumnAsync<string>("SELECT identity FROM audit_events WHERE action = 'token.failed' AND outcome = 'not_granted'"))
            .ShouldBe(["key:" + created["key_prefix"]!.GetValue<string>()]);
        (await _world.CountAsync("action = 'auth.failed' AND identity IS NULL")).ShouldBe(1);
        (await _world.CountAsync("action = 'auth.failed'")).ShouldBe(1);
    }

    [Fact]
    public async Task The_trail_refuses_an_identity_filter_longer_than_the_column()
    {
        var (status, body, _) = await _world.AdminGetAsync($"/admin/audit?identity={new string('x', 301)}");
        status.ShouldBe(HttpStatusCode.BadRequest);
        body.ShouldContain("identity");
    }
}
