using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Broker.Domain;
using Broker.Infrastructure.Observability;
using Broker.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Npgsql;

namespace Broker.IntegrationTests.Reliability;

public sealed class ObservabilityTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task A_cached_fetch_makes_no_database_round_trip()
    {
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key); // warms the token cache and the key cache
        using var commands = new DatabaseCommands(_world.ConnectionString);

        for (var i = 0; i < 100; i++) await _world.Broker.TokenAsync(account.Name, key);

        // What a fetch would read: a key lookup (clients, grants) or the account's stored token (accounts, providers),
        // plain or under the lock. Background work (the audit writer's COPY, the state count's GROUP BY, retention)
        // may run meanwhile and is not what this counts.
        commands.Count(IsTokenPathRead).ShouldBe(0);

        // The counting does see such reads: an admin read makes some.
        await _world.AdminAsync(HttpMethod.Get, "/admin/accounts");
        commands.Count(IsTokenPathRead).ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task The_first_fetch_of_an_account_an_instance_has_not_served_costs_one_database_read()
    {
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key); // the account's token is stored now, valid for a while
        var cold = await _world.AddBrokerAsync(); // an instance that has not served it (a restart, a scale-out)
        using var commands = new DatabaseCommands(_world.ConnectionString);

        await cold.TokenAsync(account.Name, key);

        // The stored token, read once and without the lock (it is valid): no key lookup (the directory is in memory),
        // no provider read of its own, no upstream call.
        commands.Count(IsTokenPathRead).ShouldBe(1);
        commands.Count(sql => IsTokenPathRead(sql) && sql.Contains("FOR UPDATE", StringComparison.Ordinal)).ShouldBe(0);
        for (var i = 0; i < 10; i++) await cold.TokenAsync(account.Name, key);
        commands.Count(IsTokenPathRead).ShouldBe(1, "from then on the instance serves it from memory");
    }

    private static bool IsTokenPathRead(string sql) =>
        !sql.Contains("GROUP BY", StringComparison.Ordinal) &&
        new[] { "FROM accounts", "FROM clients", "client_grants", "JOIN providers" }.Any(table => sql.Contains(table, StringComparison.Ordinal));

    [Fact]
    public async Task Concurrent_first_requests_with_one_new_key_read_no_client_per_request()
    {
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        await _world.Broker.TokenAsync(account.Name, await _world.ConsumerAsync(account.Name)); // the account's token is cached
        var key = await _world.ConsumerAsync(account.Name); // a key no instance has looked up yet
        var database = new NpgsqlConnectionStringBuilder(_world.ConnectionString).Database;
        var clientReads = 0;
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                var db = activity.GetTagItem("db.namespace") ?? activity.GetTagItem("db.name");
                var sql = (activity.GetTagItem("db.query.text") ?? activity.GetTagItem("db.statement"))?.ToString() ?? "";
                if (Equals(db, database) && sql.Contains("FROM clients", StringComparison.Ordinal)) Interlocked.Increment(ref clientReads);
            },
        };
        ActivitySource.AddActivityListener(listener);

        var statuses = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => _world.Broker.FetchAsync(account.Name, key)));

        statuses.ShouldAllBe(s => s.Status == HttpStatusCode.OK);
        // The key directory held the new client before its key was handed out: no read for the 50 requests, and one
        // at most if this instance read its own feed row of the new client during the burst.
        clientReads.ShouldBeInRange(0, 1);
    }

    [Fact]
    public async Task Metrics_count_served_tokens_by_cache_outcome_and_upstream_calls_by_dialect()
    {
        var account = await _world.AccountAsync(DialectNames.Keycloak);
        var key = await _world.ConsumerAsync(account.Name);
        // The host's own meter factory: measurements of other tests' hosts in this process are not collected.
        var meters = _world.Broker.Services.GetRequiredService<IMeterFactory>();
        using var served = new MetricCollector<long>(meters, BrokerMetrics.MeterName, "broker.tokens.served");
        using var calls = new MetricCollector<long>(meters, BrokerMetrics.MeterName, "broker.upstream.calls");

        await _world.Broker.TokenAsync(account.Name, key);
        await _world.Broker.TokenAsync(account.Name, key);

        served.GetMeasurementSnapshot().Select(m => m.Tags["cache"]).ShouldBe(["miss", "hit"]);
        var call = calls.GetMeasurementSnapshot().ShouldHaveSingleItem();
        $"{call.Tags["dialect"]} {call.Tags["kind"]} {call.Tags["outcome"]}".ShouldBe("keycloak login granted");
    }

    [Fact]
    public async Task Health_endpoints_answer_without_a_key()
    {
        (await _world.Broker.GetAsync("/health/live", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await _world.Broker.GetAsync("/health/ready", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Logs_are_structured_and_carry_no_secret()
    {
        var account = await _world.AccountAsync(DialectNames.OAuth2Password);
        var token = await _world.Broker.TokenAsync(account.Name, await _world.ConsumerAsync(account.Name));

        _world.Logs.Lines.ShouldContain(l => l.Contains("Upstream login for account") && l.Contains($"Account={account.Name}"));
        _world.Logs.Lines.ShouldAllBe(l => !l.Contains(token) && !l.Contains(account.Password));
    }
}
