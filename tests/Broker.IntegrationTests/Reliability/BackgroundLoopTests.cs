using Broker.Api.Audit.Recording;
using System.Net;
using Broker.Domain;
using Broker.Infrastructure;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Tokens;
using Broker.IntegrationTests.Audit;
using Broker.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Broker.IntegrationTests.Reliability;

/// <summary>
/// Each background loop's dependency is broken in turn (the audit table refusing rows, retention's delete failing,
/// an account whose secret no longer decrypts, the listener's backend killed and fed garbage): every loop keeps
/// running, the host does not stop, tokens are still served and every audit row that could be written is.
/// </summary>
public sealed class BackgroundLoopTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
    {
        ["Broker:AheadOfTime:Enabled"] = "true",
        ["Broker:AheadOfTime:Interval"] = "00:00:00.200",
        ["Broker:Audit:RetentionInterval"] = "00:00:00.200",
    });

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task The_reported_crash_an_unkeyed_request_for_a_name_ending_in_an_emoji_is_audited_and_serving_goes_on()
    {
        var (account, key) = await AccountAsync();
        var name = new string('a', 99) + "😀";

        using (var response = await _world.Broker.GetAsync($"/v1/accounts/{Uri.EscapeDataString(name)}/token", apiKey: null))
            response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        // With a key, the name goes into the trail (in the minute's count of refusals), cut on a character boundary.
        using (var response = await _world.Broker.GetAsync($"/v1/accounts/{Uri.EscapeDataString(name)}/token", key))
            response.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await _world.Broker.TokenAsync(account.Name, key)).ShouldNotBeNullOrEmpty();
        _world.Broker.Services.GetRequiredService<RejectionAudit>().Flush(all: true);

        await Poll.UntilAsync(async () => await _world.CountAsync("account_name = $1", new string('a', 99) + "…") == 1);
        AssertAllLoopsRunning();
    }

    [Fact]
    public async Task Rows_the_database_refuses_are_set_aside_and_counted_and_the_rest_is_written()
    {
        var (account, key) = await AccountAsync();
        await _world.ExecuteAsync("""
            CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.account_name LIKE 'poison%' THEN RAISE EXCEPTION 'refused for the test'; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_refuse BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION test_refuse();
            """);

        for (var i = 0; i < 5; i++)
        {
            // Not granted: counted per client, address and minute, the row naming the one account that client asked for.
            var prober = await _world.ConsumerAsync(account.Name);
            using (await _world.Broker.GetAsync($"/v1/accounts/poison-{i}/token", prober)) { }
            (await _world.Broker.TokenAsync(account.Name, key)).ShouldNotBeNullOrEmpty();
        }
        _world.Broker.Services.GetRequiredService<RejectionAudit>().Flush(all: true);

        await Poll.UntilAsync(async () => await _world.CountAsync("action = 'audit.rejected'") > 0 &&
                                       await _world.EventsAsync("action = 'token.served'") == 5);
        await Poll.UntilAsync(async () => (await _world.DetailsAsync(AuditActions.AuditRejected))
            .Sum(d => int.Parse(d[..d.IndexOf(' ', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture)) == 5);
        (await _world.CountAsync("account_name LIKE 'poison%'")).ShouldBe(0);
        (await _world.CountAsync("action = 'audit.overflow'")).ShouldBe(0);
        _world.Logs.Lines.ShouldNotContain(l => l.Contains("poison-", StringComparison.Ordinal) && l.Contains("refused", StringComparison.Ordinal));
        AssertAllLoopsRunning();
    }

    [Fact]
    public async Task A_retention_sweep_that_fails_is_logged_and_tried_again()
    {
        await _world.ExecuteAsync("""
            CREATE FUNCTION test_no_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no deleting today'; END $$;
            CREATE TRIGGER test_no_delete BEFORE DELETE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION test_no_delete();
            """);
        await Poll.UntilAsync(() => Task.FromResult(_world.Logs.Lines.Count(l => l.Contains("Audit retention failed", StringComparison.Ordinal)) >= 2));

        var (account, key) = await AccountAsync();
        (await _world.Broker.TokenAsync(account.Name, key)).ShouldNotBeNullOrEmpty();
        AssertAllLoopsRunning();
    }

    [Fact]
    public async Task One_account_whose_secret_cannot_be_decrypted_does_not_end_the_ahead_of_time_pass()
    {
        var (broken, brokenKey) = await AccountAsync();
        var (healthy, healthyKey) = await AccountAsync();
        await _world.Broker.TokenAsync(broken.Name, brokenKey);
        await _world.Broker.TokenAsync(healthy.Name, healthyKey);
        await _world.ExecuteAsync("UPDATE accounts SET refresh_token_encrypted = 'not-a-protected-payload', password_encrypted = 'nor-this' WHERE name = $1", broken.Name);

        _world.Clock.Advance(Broker.Simulator.SimulatorState.DefaultAccessLifetime * 0.9);
        await Poll.UntilAsync(() => Task.FromResult(_world.Simulator.Refreshes(healthy.Username) > 0 &&
            _world.Logs.Lines.Any(l => l.Contains($"Ahead-of-time refresh of account {broken.Name} threw", StringComparison.Ordinal))));

        (await _world.Broker.TokenAsync(healthy.Name, healthyKey)).ShouldNotBeNullOrEmpty();
        AssertAllLoopsRunning();
    }

    [Fact]
    public async Task The_change_feed_survives_garbage_rows_garbage_hints_and_its_hint_connection_being_killed()
    {
        var (account, key) = await AccountAsync();
        var feed = _world.Broker.Services.GetRequiredService<ChangeFeed>();
        await _world.ExecuteAsync($"SELECT pg_notify('{ChangeFeed.Channel}', x) FROM unnest(ARRAY['', 'garbage', repeat('z', 7000), chr(8238)]) AS x");
        await _world.ExecuteAsync(
            "INSERT INTO changes (kind, subject) SELECT k, s FROM unnest(ARRAY['client', 'client', 'account', 'from-a-newer-version'], ARRAY['not-a-guid', '', repeat('z', 200), chr(8238)]) AS x (k, s)");
        await _world.ExecuteAsync("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()");
        var reads = feed.Reads;
        await Poll.UntilAsync(() => Task.FromResult(feed.Reads > reads + 1)); // a read that started after the rows were committed

        (await _world.Broker.TokenAsync(account.Name, key)).ShouldNotBeNullOrEmpty();
        feed.IsTrusted.ShouldBeTrue();
        AssertAllLoopsRunning();
    }

    private void AssertAllLoopsRunning()
    {
        var services = _world.Broker.Services;
        services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.IsCancellationRequested.ShouldBeFalse();
        var loops = services.GetServices<IHostedService>().OfType<SupervisedLoop>().ToList();
        loops.Select(l => l.GetType()).ShouldBe([typeof(ChangeFeed), typeof(AuditWriter), typeof(AheadOfTimeRefresher), typeof(AuditRetention),
            typeof(Broker.Infrastructure.Observability.AccountStateCounts), typeof(Broker.Infrastructure.Webhooks.WebhookDispatcher),
            typeof(Broker.Infrastructure.Webhooks.RefreshExpiryScanner)], ignoreOrder: true);
        foreach (var loop in loops)
        {
            loop.ExecuteTask.ShouldNotBeNull();
            loop.ExecuteTask.IsCompleted.ShouldBeFalse($"{loop.GetType().Name} stopped");
        }
    }

    private async Task<(TestAccount Account, string Key)> AccountAsync()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        return (account, await _world.ConsumerAsync(account.Name));
    }
}
