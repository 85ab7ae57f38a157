using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Broker.IntegrationTests.Support;
using Npgsql;

namespace Broker.IntegrationTests.Reliability;

/// <summary>
/// docs/operations.md, "Running behind PgBouncer": three instances started at once on an empty database through a
/// real PgBouncer in transaction pooling mode apply each migration once (the lock is the transaction's, which a
/// transaction pooler keeps), then serve, and the token storm spends every refresh token once.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class PgBouncerTests : IAsyncLifetime
{
    private const int Hosts = 3;
    private PostgresServer _server = null!;
    private PgBouncer _bouncer = null!;
    private BrokerWorld _world = null!;
    private string _database = null!;

    public async Task InitializeAsync()
    {
        _server = await PostgresServer.SharedAsync();
        _bouncer = await PgBouncer.StartAsync(_server);
        _world = await BrokerWorld.StartAsync(brokers: 0, server: _server);
        _database = await _server.CreateEmptyDatabaseAsync();
        _world.Settings["ConnectionStrings:Broker"] = _bouncer.ConnectionStringFor(_database);
        var started = await Task.WhenAll(Enumerable.Range(0, Hosts).Select(_ => BrokerHost.StartAsync(_world.Settings, _world.Clock, _world.Logs)));
        _world.Brokers.AddRange(started);
    }

    public async Task DisposeAsync()
    {
        await _world.DisposeAsync();
        await _bouncer.DisposeAsync();
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
}
