using Broker.Infrastructure.Audit;
using Broker.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Audit;

/// <summary>The retention job: the only path that deletes audit rows, batch by batch, on the broker's clock.</summary>
public sealed class AuditRetentionTests : IAsyncDisposable
{
    private BrokerWorld? _world;

    public async ValueTask DisposeAsync()
    {
        if (_world is not null) await _world.DisposeAsync();
    }

    [Fact]
    public async Task Sweep_deletes_in_batches_every_event_older_than_the_retention_period_and_nothing_newer()
    {
        _world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Broker:Audit:RetentionDays"] = "30",
            ["Broker:Audit:RetentionBatchSize"] = "10",
        });
        var retention = _world.Broker.Services.GetRequiredService<AuditRetention>();
        await retention.FirstSweep.WaitAsync(TimeSpan.FromSeconds(30)); // the job's own start-up sweep must not share the rows
        var now = _world.Clock.GetUtcNow();
        await InsertAsync("test.expired", now.AddDays(-30).AddSeconds(-1), count: 25);
        await InsertAsync("test.kept", now.AddDays(-30).AddSeconds(1), count: 5);
        var before = await _world.CountAsync("true");

        var deleted = await retention.SweepAsync(default);

        deleted.ShouldBe(25); // three batches of at most 10
        (await _world.CountAsync("action = 'test.expired'")).ShouldBe(0);
        (await _world.CountAsync("action = 'test.kept'")).ShouldBe(5);
        (await _world.CountAsync("true")).ShouldBe(before - 25);
        _world.Logs.Lines.ShouldContain(l => l.Contains("Audit retention deleted 25 events", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Retention_job_runs_by_itself_and_measures_age_on_the_broker_clock()
    {
        _world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Broker:Audit:RetentionDays"] = "30",
            ["Broker:Audit:RetentionInterval"] = "00:00:00.200",
        });
        await InsertAsync("test.aging", _world.Clock.GetUtcNow().AddDays(-20), count: 3);
        var retention = _world.Broker.Services.GetRequiredService<AuditRetention>();
        (await retention.SweepAsync(default)).ShouldBe(0); // 20 days old: kept

        _world.Clock.Advance(TimeSpan.FromDays(11)); // now 31 days old
        await Poll.UntilAsync(async () => await _world.CountAsync("action = 'test.aging'") == 0, what: "the retention job's deletion of the expired events");
    }

    private Task<int> InsertAsync(string action, DateTimeOffset at, int count) => _world!.ExecuteAsync(
        "INSERT INTO audit_events (at, action, outcome) SELECT $1, $2, 'ok' FROM generate_series(1, $3)", at, action, count);
}
