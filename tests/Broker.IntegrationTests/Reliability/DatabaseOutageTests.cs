using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Reliability;

/// <summary>PostgreSQL stopped and started under load: 503s (never a 500 or a hang) while down, full service soon after.</summary>
public sealed class DatabaseOutageTests : IAsyncLifetime
{
    private PostgresServer _server = null!;
    private BrokerWorld _world = null!;

    public async Task InitializeAsync()
    {
        _server = await PostgresServer.StartDedicatedAsync();
        _world = await BrokerWorld.StartAsync(server: _server, settings: new Dictionary<string, string?>
        {
            // Keys are trusted for one second without the feed, then 503: the database is on every path.
            ["Broker:Changes:StaleAfter"] = "00:00:01",
        });
    }

    public async Task DisposeAsync()
    {
        await _world.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Database_restart_under_load_gives_only_503s_then_full_service_again()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);

        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var results = new ConcurrentQueue<Result>();
        var phase = "before";
        var load = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var current = Volatile.Read(ref phase);
                var started = clock.Elapsed;
                using var response = i % 2 == 0
                    ? await _world.Broker.GetAsync($"/v1/accounts/{account.Name}/token", key)
                    : await _world.Broker.GetAsync("/admin/accounts", BrokerWorld.AdminKey);
                results.Enqueue(new Result(response.StatusCode, clock.Elapsed - started, clock.Elapsed, current));
            }
        })).ToList();

        await Poll.UntilAsync(() => results.Count > 50);
        Volatile.Write(ref phase, "down");
        _server.Stop();
        var downFrom = results.Count;
        await Poll.UntilAsync(() => results.Count > downFrom + 100);

        Volatile.Write(ref phase, "restarting");
        _server.Start();
        await Poll.UntilAsync(() => results.Reverse().TakeWhile(r => r.Phase == "restarting" && r.Status == HttpStatusCode.OK).Count() >= 50);
        stop.Cancel();
        await Task.WhenAll(load);

        var down = results.Where(r => r.Phase == "down").ToList();
        down.ShouldAllBe(r => r.Status == HttpStatusCode.OK || r.Status == HttpStatusCode.ServiceUnavailable);
        down.ShouldContain(r => r.Status == HttpStatusCode.ServiceUnavailable);
        results.ShouldAllBe(r => r.Status != HttpStatusCode.InternalServerError);
        results.Max(r => r.Took).ShouldBeLessThan(TimeSpan.FromSeconds(20), "no request hangs");
        // Full service again: the wait above saw 50 answers in a row succeed after the restart. How soon is a matter of
        // the machine's speed, not of correctness, so it is not asserted here.
        results.Where(r => r.Phase == "restarting").ShouldAllBe(r => r.Status == HttpStatusCode.OK || r.Status == HttpStatusCode.ServiceUnavailable);
    }

    private sealed record Result(HttpStatusCode Status, TimeSpan Took, TimeSpan At, string Phase);

}
