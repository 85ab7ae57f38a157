using System.Net;
using System.Text.RegularExpressions;
using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Broker.IntegrationTests.Audit;

/// <summary>The hot path's queue: never blocks a request, never loses an event silently, drains on shutdown.</summary>
public sealed class AuditQueueTests : IAsyncDisposable
{
    private BrokerWorld? _world;

    public async ValueTask DisposeAsync()
    {
        if (_world is not null) await _world.DisposeAsync();
    }

    [Fact]
    public async Task A_full_queue_never_blocks_requests_and_every_dropped_event_is_counted_logged_and_recorded()
    {
        // No lingering before a COPY: the writer takes the first events at once and then stalls on the lock.
        _world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Broker:Audit:QueueCapacity"] = "100",
            ["Broker:Audit:FlushInterval"] = "00:00:00",
        });
        var account = await _world.AccountAsync("simplejwt");
        var key = await _world.ConsumerAsync(account.Name);
        var queue = _world.Broker.Services.GetRequiredService<AuditQueue>();

        // Stall the writer: its COPY waits for this lock, so the queue fills up.
        await using var blocker = new NpgsqlConnection(_world.ConnectionString);
        await blocker.OpenAsync();
        await using var stall = await blocker.BeginTransactionAsync();
        await new NpgsqlCommand("LOCK TABLE audit_events IN SHARE MODE", blocker, stall).ExecuteNonQueryAsync();

        // Requests with invalid input: each is an event of its own (served tokens and refusals are counted per minute).
        const int burst = 400;
        var statuses = new List<HttpStatusCode>();
        foreach (var chunk in Enumerable.Range(0, burst).Chunk(20))
            statuses.AddRange(await Task.WhenAll(chunk.Select(async _ =>
            {
                using var response = await _world.Broker.GetAsync($"/v1/accounts/{account.Name}/token?min_validity=soon", key);
                return response.StatusCode;
            })));
        statuses.ShouldAllBe(s => s == HttpStatusCode.BadRequest); // answered while the writer could not write
        queue.Depth.ShouldBe(100);
        queue.Dropped.ShouldBeGreaterThan(0);

        await stall.RollbackAsync();
        await _world.DrainAsync();

        var failed = await _world.CountAsync("action = $1", AuditActions.RequestFailed);
        var overflows = await _world.DetailsAsync(AuditActions.AuditOverflow);
        overflows.ShouldNotBeEmpty();
        var dropped = overflows.Sum(d => long.Parse(Regex.Match(d, @"^\d+").Value));
        dropped.ShouldBe(burst - failed);
        _world.Logs.Lines.ShouldContain(l => l.Contains($"{dropped} audit events were lost", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Values_postgres_cannot_store_are_cleaned_and_do_not_stall_the_writer()
    {
        _world = await BrokerWorld.StartAsync();
        var account = await _world.AccountAsync("sliderule");
        var key = await _world.ConsumerAsync(account.Name);

        // Kestrel refuses a NUL in the path today; the writer must still survive one (and an overlong value)
        // from any future source, or one bad event would block the whole trail behind it.
        var queue = _world.Broker.Services.GetRequiredService<AuditQueue>();
        queue.Enqueue(new AuditEvent { At = _world.Clock.GetUtcNow(), Action = "test.nul", Outcome = "ok", AccountName = "bad\0name" });
        queue.Enqueue(new AuditEvent { At = _world.Clock.GetUtcNow(), Action = "test.long", Outcome = "ok", Detail = new string('x', 2000) });
        await _world.Broker.TokenAsync(account.Name, key);
        await _world.DrainAsync();

        (await _world.CountAsync("action = 'test.nul' AND account_name = $1", "bad\uFFFDname")).ShouldBe(1);
        (await _world.CountAsync("action = 'test.long' AND length(detail) = 500")).ShouldBe(1);
        (await _world.CountAsync("action = 'token.served'")).ShouldBe(1);
        (await _world.CountAsync("action = 'audit.overflow'")).ShouldBe(0);
    }

    [Fact]
    public async Task An_event_the_database_refuses_is_dropped_counted_and_recorded_and_the_rest_of_its_batch_is_written()
    {
        _world = await BrokerWorld.StartAsync();
        var account = await _world.AccountAsync("sliderule");
        var key = await _world.ConsumerAsync(account.Name);
        // Stands for any event PostgreSQL refuses as data however often it is retried.
        await _world.ExecuteAsync("ALTER TABLE audit_events ADD CONSTRAINT test_refuse_poison CHECK (action <> 'test.poison')");
        var queue = _world.Broker.Services.GetRequiredService<AuditQueue>();
        await _world.Broker.TokenAsync(account.Name, key); // logs in (its row is written with the token set)

        await using (var blocker = new NpgsqlConnection(_world.ConnectionString))
        {
            // Hold the writer (blocked on its first event) so that the poison lands in the middle of the next batch.
            await blocker.OpenAsync();
            await using var stall = await blocker.BeginTransactionAsync();
            await new NpgsqlCommand("LOCK TABLE audit_events IN SHARE MODE", blocker, stall).ExecuteNonQueryAsync();
            await _world.Broker.TokenAsync(account.Name, key);
            await _world.Broker.TokenAsync(account.Name, key);
            queue.Enqueue(new AuditEvent { At = _world.Clock.GetUtcNow(), Action = "test.poison", Outcome = "ok" });
            await _world.Broker.TokenAsync(account.Name, key);
            await stall.RollbackAsync();
        }
        await _world.DrainAsync();

        (await _world.EventsAsync("action = 'token.served'")).ShouldBe(4);
        (await _world.DetailsAsync(AuditActions.AuditRejected)).ShouldHaveSingleItem().ShouldStartWith("1 audit events were refused");
        (await _world.CountAsync("action = 'audit.overflow'")).ShouldBe(0); // a refusal is not a full queue
        _world.Logs.Lines.ShouldContain(l => l.Contains("An audit event (action test.poison) was refused (23514)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Graceful_shutdown_under_load_loses_no_served_event()
    {
        _world = await BrokerWorld.StartAsync();
        var account = await _world.AccountAsync("keycloak");
        var key = await _world.ConsumerAsync(account.Name);
        var broker = _world.Broker;
        using var http = new HttpClient { BaseAddress = broker.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new("Bearer", key);

        var ok = 0;
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task Load()
        {
            while (true)
            {
                try
                {
                    using var response = await http.GetAsync($"/v1/accounts/{account.Name}/token");
                    if (response.StatusCode != HttpStatusCode.OK) continue;
                    if (Interlocked.Increment(ref ok) == 300) answered.TrySetResult();
                }
                catch (HttpRequestException)
                {
                    return; // the broker stopped listening
                }
            }
        }

        var load = Enumerable.Range(0, 16).Select(_ => Task.Run(Load)).ToArray();
        await answered.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await broker.DisposeAsync(); // stops Kestrel (in-flight requests finish), then the writer drains the queue
        _world.Brokers.Remove(broker);
        await Task.WhenAll(load).WaitAsync(TimeSpan.FromSeconds(30));

        ok.ShouldBeGreaterThanOrEqualTo(300);
        (await _world.EventsAsync("action = $1", AuditActions.TokenServed)).ShouldBe(ok);
        (await _world.CountAsync("action = $1", AuditActions.AuditOverflow)).ShouldBe(0);
    }
}
