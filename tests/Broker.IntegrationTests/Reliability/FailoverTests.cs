using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Support;
using Broker.Simulator;
using Npgsql;
using Xunit.Abstractions;

namespace Broker.IntegrationTests.Reliability;

/// <summary>
/// docs/operations.md, "Running with a standby": the primary dies under traffic from three instances, its synchronous
/// standby is promoted, and the instances, on the documented multi-host connection string, write to it. Callers see
/// only tokens and 503s with Retry-After meanwhile, and no refresh token is spent twice. How long writes stop is
/// measured and written to the test output (docs/benchmarks.md), not asserted.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class FailoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Hosts = 3;
    private const int CallersPerRound = 6;
    private PostgresServer _primary = null!;
    private PostgresServer _standby = null!;
    private BrokerWorld _world = null!;

    public async Task InitializeAsync()
    {
        _primary = await PostgresServer.StartDedicatedAsync();
        _standby = await _primary.StartSynchronousStandbyAsync();
        _world = await BrokerWorld.StartAsync(brokers: 0, server: _primary);
        _world.Settings["ConnectionStrings:Broker"] = new NpgsqlConnectionStringBuilder(_world.ConnectionString)
        {
            Host = $"127.0.0.1:{_primary.Port},127.0.0.1:{_standby.Port}",
            TargetSessionAttributes = "primary",
            HostRecheckSeconds = 1,
            Timeout = 2,
            CommandTimeout = 10,
        }.ConnectionString;
        for (var i = 0; i < Hosts; i++) await _world.AddBrokerAsync();
    }

    public async Task DisposeAsync()
    {
        await _world.DisposeAsync();
        await _standby.DisposeAsync();
        await _primary.DisposeAsync();
    }

    [Fact]
    public async Task Primary_killed_under_traffic_standby_promoted_writes_resume_and_no_refresh_token_is_spent_twice()
    {
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);
        _world.Simulator.Latency = TimeSpan.FromMilliseconds(20);

        var clock = Stopwatch.StartNew();
        var fetches = new ConcurrentQueue<Fetch>();
        using var stop = new CancellationTokenSource();
        var traffic = Task.Run(async () =>
        {
            // Round after round the access token expires and callers on every instance ask for it: each round that
            // succeeds is a refresh committed, a write.
            while (!stop.IsCancellationRequested)
            {
                _world.Clock.Advance(SimulatorState.DefaultAccessLifetime);
                await Task.WhenAll(Enumerable.Range(0, CallersPerRound).Select(i => Task.Run(async () =>
                {
                    var host = i % Hosts;
                    var started = clock.Elapsed;
                    var (status, _, response) = await _world.Brokers[host].FetchAsync(account.Name, key);
                    fetches.Enqueue(new Fetch(host, started, clock.Elapsed, status, response.Headers.RetryAfter is not null));
                })));
                await Task.Delay(20); // pacing only: a round's requests are its own
            }
        });

        await Poll.UntilAsync(() => Task.FromResult(fetches.Count(f => f.Status == HttpStatusCode.OK) >= 30));
        var killedAt = clock.Elapsed;
        _primary.Kill();
        // A failover manager takes a moment to decide the primary is gone; the measurement promoted after 1 s.
        await Task.Delay(TimeSpan.FromSeconds(1));
        var promotedAt = clock.Elapsed;
        _standby.Promote();
        var promotionTook = clock.Elapsed - promotedAt;

        // Writes resumed on every instance: each answered 200 to ten fetches begun after the promotion.
        await Poll.UntilAsync(() => Task.FromResult(Enumerable.Range(0, Hosts).All(h =>
            fetches.Count(f => f.Host == h && f.Started > promotedAt && f.Status == HttpStatusCode.OK) >= 10)));
        await stop.CancelAsync();
        await traffic;

        var all = fetches.ToList();
        all.Where(f => f.Status is not (HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable))
            .Select(f => f.Status).ShouldBeEmpty("callers see a token or a 503");
        all.Where(f => f.Status == HttpStatusCode.ServiceUnavailable).ShouldAllBe(f => f.RetryAfter, "every 503 says when to try again");
        all.ShouldContain(f => f.Status == HttpStatusCode.ServiceUnavailable, "the kill was felt");
        _world.Simulator.RefreshReuses(account.UpstreamUser).ShouldBe(0);

        foreach (var broker in _world.Brokers)
        {
            using var ready = await broker.GetAsync("/health/ready", null);
            var text = await ready.Content.ReadAsStringAsync();
            ready.StatusCode.ShouldBe(HttpStatusCode.OK, text);
            text.ShouldContain($"127.0.0.1:{_standby.Port}, writable");
        }

        // A write resumed at the first 200 of a fetch begun after the kill: each round's token had expired.
        var afterKill = all.Where(f => f.Started > killedAt).ToList();
        var firstWrite = afterKill.Where(f => f.Status == HttpStatusCode.OK).Min(f => f.Ended);
        var everyHost = Enumerable.Range(0, Hosts).Max(h => afterKill.Where(f => f.Host == h && f.Status == HttpStatusCode.OK).Min(f => f.Ended));
        output.WriteLine($"pg_ctl promote took {promotionTook.TotalSeconds:0.00} s");
        output.WriteLine($"first write after the promotion: {(firstWrite - promotedAt).TotalSeconds:0.00} s (after the kill: {(firstWrite - killedAt).TotalSeconds:0.00} s)");
        output.WriteLine($"every instance writing after the promotion: {(everyHost - promotedAt).TotalSeconds:0.00} s (after the kill: {(everyHost - killedAt).TotalSeconds:0.00} s)");
        output.WriteLine($"answers after the kill: {afterKill.Count(f => f.Status == HttpStatusCode.OK)} x 200, {afterKill.Count(f => f.Status == HttpStatusCode.ServiceUnavailable)} x 503; " +
                         $"upstream logins {_world.Simulator.Logins(account.UpstreamUser)}, refreshes {_world.Simulator.Refreshes(account.UpstreamUser)}, reuses {_world.Simulator.RefreshReuses(account.UpstreamUser)}");
    }

    private sealed record Fetch(int Host, TimeSpan Started, TimeSpan Ended, HttpStatusCode Status, bool RetryAfter);
}
