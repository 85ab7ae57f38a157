using System.Diagnostics;
using System.Net;
using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Broker.IntegrationTests.Support;
using Broker.Simulator;
using Npgsql;
using Xunit.Abstractions;

namespace Broker.IntegrationTests.Reliability;

/// <summary>
/// docs/operations.md, "Running behind PgBouncer": three instances started at once on an empty database through a
/// real PgBouncer in transaction pooling mode apply each migration once (the lock is the transaction's, which a
/// transaction pooler keeps), then serve, and the token storm spends every refresh token once. Nothing needs a
/// session: a key revoked or a grant removed through one instance reaches the others by the change feed, and
/// webhooks are woken by it (LISTEN, which PgBouncer does not carry, is only a hint).
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class PgBouncerTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Hosts = 3;
    private PostgresServer _server = null!;
    private PgBouncer _bouncer = null!;
    private BrokerWorld _world = null!;
    private string _database = null!;
    private WebhookReceiver _receiver = null!;

    public async Task InitializeAsync()
    {
        _server = await PostgresServer.SharedAsync();
        _bouncer = await PgBouncer.StartAsync(_server);
        _receiver = await WebhookReceiver.StartAsync();
        // The receiver is plain http on loopback. The dispatcher's own poll waits on the world's clock, which these
        // tests do not move: only the change feed can wake it.
        _world = await BrokerWorld.StartAsync(brokers: 0, server: _server, settings: new Dictionary<string, string?>
        {
            ["Broker:Webhooks:AllowPlainHttp"] = "true",
            ["Broker:Tokens:MemoryCacheMaxAge"] = "00:10:00",
        });
        _database = await _server.CreateEmptyDatabaseAsync();
        _world.Settings["ConnectionStrings:Broker"] = _bouncer.ConnectionStringFor(_database);
        var started = await Task.WhenAll(Enumerable.Range(0, Hosts).Select(_ => BrokerHost.StartAsync(_world.Settings, _world.Clock, _world.Logs)));
        _world.Brokers.AddRange(started);
    }

    public async Task DisposeAsync()
    {
        await _world.DisposeAsync();
        await _bouncer.DisposeAsync();
        await _receiver.DisposeAsync();
        _server.DropDatabaseLater(_database);
    }

    [Fact]
    public async Task Three_instances_started_together_apply_each_migration_once()
    {
        foreach (var migration in MigrationRunner.Embedded)
            _world.Logs.Lines.Count(l => l.Contains($"Applied migration {migration.Version} ", StringComparison.Ordinal)).ShouldBe(1, migration.Version);

        await using var connection = new NpgsqlConnection(_database);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM schema_migrations", connection);
        ((long)(await count.ExecuteScalarAsync())!).ShouldBe(MigrationRunner.Embedded.Count);
        // No lock was left behind on a server connection the pooler handed on.
        await using var locks = new NpgsqlCommand("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", connection);
        ((long)(await locks.ExecuteScalarAsync())!).ShouldBe(0);
    }

    [Theory]
    [InlineData(DialectNames.SlideRule)]
    [InlineData(DialectNames.OAuth2Password)]
    public async Task The_token_storm_through_the_pooler_spends_each_refresh_token_once(string dialect)
    {
        var account = await _world.AccountAsync(dialect);
        var key = await _world.ConsumerAsync(account.Name);
        await ExpiryStorm.RunAsync(_world, account.Name, account.UpstreamUser, key, callers: 90, rounds: 10);

        _world.Simulator.Logins(account.UpstreamUser).ShouldBe(1);
        _world.Simulator.RefreshReuses(account.UpstreamUser).ShouldBe(0);
        _world.Simulator.RejectedRefreshes(account.UpstreamUser).ShouldBe(0);
    }

    [Fact]
    public async Task Readiness_names_the_pooler_and_the_server_behind_it()
    {
        using var ready = await _world.Broker.GetAsync("/health/ready", null);
        var text = await ready.Content.ReadAsStringAsync();
        text.ShouldStartWith("Healthy: ");
        text.ShouldContain($"127.0.0.1:{_bouncer.Port} (server 127.0.0.1:{_server.Port}), writable");
    }

    [Fact]
    public async Task A_key_revoked_through_one_instance_is_refused_by_the_others()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ClientAsync("svc-revoked", accounts: [account.Name]);
        foreach (var broker in _world.Brokers) await broker.TokenAsync(account.Name, key); // cached everywhere

        var revoked = Stopwatch.StartNew();
        await _world.AdminAsync(HttpMethod.Post, "/admin/clients/svc-revoked/revoke");
        var took = await UntilEveryOtherInstanceAsync(async b => (await b.FetchAsync(account.Name, key)).Status == HttpStatusCode.Unauthorized, revoked);
        output.WriteLine($"revoked key refused by the other instances after {took.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task A_grant_removed_through_one_instance_is_refused_by_the_others()
    {
        var kept = await _world.AccountAsync(DialectNames.SimpleJwt);
        var removed = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ClientAsync("svc-regranted", accounts: [kept.Name, removed.Name]);
        foreach (var broker in _world.Brokers) await broker.TokenAsync(removed.Name, key);

        var changed = Stopwatch.StartNew();
        await _world.AdminAsync(HttpMethod.Put, "/admin/clients/svc-regranted/grants", new { accounts = new[] { kept.Name } });
        var took = await UntilEveryOtherInstanceAsync(async b => (await b.FetchAsync(removed.Name, key)).Status == HttpStatusCode.Forbidden, changed);
        output.WriteLine($"removed grant refused by the other instances after {took.TotalMilliseconds:0} ms");
        foreach (var broker in _world.Brokers) await broker.TokenAsync(kept.Name, key);
    }

    [Fact]
    public async Task A_webhook_is_delivered_once_through_the_pooler()
    {
        await _world.AdminAsync(HttpMethod.Post, "/admin/webhooks",
            new { url = _receiver.Url("/hook"), events = new[] { WebhookEvents.NeedsAttention } }, HttpStatusCode.Created);
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);
        _world.Simulator.SetFault(Fault.RejectCredentials, account.Username);
        _world.Clock.Advance(SimulatorState.DefaultRefreshLifetime + TimeSpan.FromMinutes(1)); // the next fetch must log in

        (await _world.Brokers[1].FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.Conflict);
        var received = await _receiver.WaitForCountAsync(1);
        received[0].Event.ShouldBe(WebhookEvents.NeedsAttention);
        received[0].Json["data"]!["account"]!.GetValue<string>().ShouldBe(account.Name);

        // Once, though three instances' dispatchers were woken: another event after it arrives alone, too.
        _world.Simulator.SetFault(Fault.None, account.Username);
        await _world.AdminAsync(HttpMethod.Post, "/admin/webhooks",
            new { url = _receiver.Url("/second"), events = new[] { WebhookEvents.NeedsAttention } }, HttpStatusCode.Created);
        var other = await _world.AccountAsync(DialectNames.SlideRule);
        var otherKey = await _world.ConsumerAsync(other.Name);
        await _world.Brokers[2].TokenAsync(other.Name, otherKey);
        _world.Simulator.SetFault(Fault.RejectCredentials, other.Username);
        _world.Clock.Advance(SimulatorState.DefaultRefreshLifetime + TimeSpan.FromMinutes(1));
        (await _world.Brokers[2].FetchAsync(other.Name, otherKey)).Status.ShouldBe(HttpStatusCode.Conflict);
        var all = await _receiver.WaitForCountAsync(3);
        all.Count(r => r.Path == "/hook" && r.Json["data"]!["account"]!.GetValue<string>() == account.Name).ShouldBe(1);
        all.Count(r => r.Json["data"]!["account"]!.GetValue<string>() == other.Name).ShouldBe(2); // one per webhook
    }

    /// <summary>
    /// Polls the instances the change was not made through until each shows it; returns when the last did. The bound
    /// is a hang's, not the target's (a change reaches an instance within a poll interval, 250 ms by default).
    /// </summary>
    private async Task<TimeSpan> UntilEveryOtherInstanceAsync(Func<BrokerHost, Task<bool>> seen, Stopwatch since)
    {
        var waiting = _world.Brokers.Skip(1).ToList();
        await Poll.UntilAsync(async () =>
        {
            foreach (var broker in waiting.ToList())
                if (await seen(broker)) waiting.Remove(broker);
            return waiting.Count == 0;
        }, timeoutSeconds: 15, what: "Every other instance showing the change");
        return since.Elapsed;
    }
}
