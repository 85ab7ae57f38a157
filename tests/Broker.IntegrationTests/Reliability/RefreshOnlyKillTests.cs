using System.Net;
using System.Text.Json.Nodes;
using Broker.IntegrationTests.Admin;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Reliability;

/// <summary>
/// docs/architecture.md, "Crash safety", for an account that cannot log in: a broker process killed after the
/// upstream rotated the refresh token but before the answer was stored. With a reuse grace the next holder of the
/// lock sends the token again and the chain lives on; without one the account says plainly that it needs a person.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class RefreshOnlyKillTests : IAsyncLifetime
{
    private const int Kills = 20;
    private BrokerWorld _world = null!;
    private Dictionary<string, string?> _settings = null!;

    public async Task InitializeAsync()
    {
        // Webhooks may go to the test's receiver on plain http on loopback.
        _world = await BrokerWorld.StartAsync(simulatorClock: TimeProvider.System,
            settings: new Dictionary<string, string?> { ["Broker:Webhooks:AllowPlainHttp"] = "true" });
        _settings = new Dictionary<string, string?>(_world.Settings)
        {
            ["Broker:Tokens:FreshTokenWindow"] = "00:00:00", // every fetch with a large min_validity refreshes
            ["Broker:Upstream:Timeout"] = "00:00:30",
            ["Broker:Tokens:LockTimeout"] = "00:01:40", // a lock left behind would show as a 503
        };
    }

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task Killing_the_broker_mid_refresh_twenty_times_keeps_the_chain_of_an_account_on_a_provider_with_reuse_grace()
    {
        var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: 300));
        _world.Simulator.RefreshReuseGrace = TimeSpan.FromSeconds(300);
        var key = await _world.ConsumerAsync(account.Name);

        for (var kill = 1; kill <= Kills; kill++)
        {
            await using var broker = await BrokerProcess.StartAsync(_settings);
            await YieldsValidToken(broker, account, key, $"before kill {kill}");
            await KillMidRefreshAsync(broker, account, key);
        }

        await using (var last = await BrokerProcess.StartAsync(_settings))
            await YieldsValidToken(last, account, key, "after the last kill");

        _world.Simulator.TotalGraceRefreshes.ShouldBe(Kills, "each lost answer was recovered by sending the same token within the grace");
        _world.Simulator.RefreshReuses(account.Username).ShouldBe(0);
        _world.Simulator.TotalLogins.ShouldBe(0);
        _world.Simulator.TotalFailedLogins.ShouldBe(0);
        var shown = await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}");
        shown["state"]!.GetValue<string>().ShouldBe("active");
        shown["attention_reason"].ShouldBeNull();
        (await ScalarAsync("SELECT count(*) FROM audit_events WHERE action = 'token.refresh_resumed' AND outcome = 'retry_within_grace'"))
            .ShouldBe(Kills);
        (await ScalarAsync("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'"))
            .ShouldBe(0);
    }

    [Fact]
    public async Task Without_a_reuse_grace_a_lost_answer_leaves_the_account_needing_a_reconnect_never_silently_broken_and_a_webhook_says_so()
    {
        var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: null));
        var key = await _world.ConsumerAsync(account.Name);
        await using var receiver = await WebhookReceiver.StartAsync();
        await _world.AdminAsync(HttpMethod.Post, "/admin/webhooks",
            new { url = receiver.Url("/hooks/broker"), events = new[] { "account.needs_attention" } }, HttpStatusCode.Created);

        await using (var broker = await BrokerProcess.StartAsync(_settings))
        {
            await YieldsValidToken(broker, account, key, "before the kill");
            await KillMidRefreshAsync(broker, account, key);
        }
        var requests = _world.Simulator.TotalRequests;

        IReadOnlyList<ReceivedWebhook> received;
        await using (var next = await BrokerProcess.StartAsync(_settings))
        {
            using var response = await next.TokenAsync(account.Name, key, minValidity: 3600);
            response.StatusCode.ShouldBe(HttpStatusCode.Conflict, await response.Content.ReadAsStringAsync());
            // This process delivers the webhook: the world's own broker runs on a clock stopped at the world's start,
            // to which a delivery due "now" in real time is still in the future.
            received = await receiver.WaitForAsync(r => r.Any(w => w.Event == "account.needs_attention"));
        }

        _world.Simulator.TotalRequests.ShouldBe(requests, "the maybe-spent token is not sent again");
        _world.Simulator.RefreshReuses(account.Username).ShouldBe(0);
        _world.Simulator.TotalLogins.ShouldBe(0);
        var shown = await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}");
        shown["state"]!.GetValue<string>().ShouldBe("needs_attention");
        shown["attention_reason"]!.GetValue<string>().ShouldBe("reconnect_required");
        var lastError = shown["last_error"]!.GetValue<string>();
        lastError.ShouldContain("was interrupted");
        lastError.ShouldContain("no reuse grace");

        var said = received.Single(w => w.Event == "account.needs_attention").Json["data"]!;
        said["account"]!.GetValue<string>().ShouldBe(account.Name);
        said["attention_reason"]!.GetValue<string>().ShouldBe("reconnect_required");
        said["last_error"]!.GetValue<string>().ShouldContain("was interrupted");
    }

    [Fact]
    public async Task A_resend_answered_with_the_first_attempts_tokens_is_dated_from_that_attempt_and_refreshed_again_at_once_when_they_are_dead()
    {
        // django-oauth-toolkit within REFRESH_TOKEN_GRACE_PERIOD_SECONDS: a resent token gets the tokens issued for its
        // first use, with an expires_in counted as if they were new. Short lifetimes, so that the first answer's
        // access token has expired by the time the restarted broker resends.
        var lifetime = TimeSpan.FromSeconds(6);
        var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: 300));
        _world.Simulator.RefreshReuseGrace = TimeSpan.FromSeconds(300);
        _world.Simulator.ResendRepeatsFirstAnswer = true;
        _world.Simulator.AccessLifetime = lifetime;
        var key = await _world.ConsumerAsync(account.Name);
        var settings = new Dictionary<string, string?>(_settings) { ["Broker:Tokens:ClockSkew"] = "00:00:01" };

        await using (var broker = await BrokerProcess.StartAsync(settings))
        {
            await YieldsValidToken(broker, account, key, "before the kill");
            await KillMidRefreshAsync(broker, account, key);
        }
        var lost = DateTimeOffset.UtcNow; // the lost answer's tokens were issued before this

        await using (var next = await BrokerProcess.StartAsync(settings))
        {
            // No event says that a token has expired: the scenario needs the lost answer's access token dead.
            await Poll.UntilAsync(() => DateTimeOffset.UtcNow > lost + lifetime, what: "The lost answer's access token expiring");
            using var response = await next.TokenAsync(account.Name, key, minValidity: 1);
            var text = await response.Content.ReadAsStringAsync();
            response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
            var served = JsonNode.Parse(text)!;
            var token = served["access_token"]!.GetValue<string>();
            _world.Simulator.IsValidAccessToken(token).ShouldBeTrue("the token served is one the upstream accepts");
            DateTimeOffset.Parse(served["expires_at"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture)
                .ShouldBeLessThanOrEqualTo(_world.Simulator.AccessTokenExpiresAt(token)!.Value.AddSeconds(1), "never promised longer than it lives");
        }

        _world.Simulator.TotalGraceRefreshes.ShouldBe(1);
        _world.Simulator.RefreshReuses(account.Username).ShouldBe(0);
        var trail = (await AuditRows.ReadAsync(_world, "token.refresh%")).Where(r => r.Account == account.Name).ToList();
        var resumed = trail.FindIndex(r => r.Action == "token.refresh_resumed");
        resumed.ShouldBeGreaterThanOrEqualTo(0, "the resend is audited");
        trail[resumed].Outcome.ShouldBe("retry_within_grace");
        // After it, the resend itself and the refresh with the token it brought back, both granted.
        trail.Skip(resumed + 1).Select(r => (r.Action, r.Outcome)).ShouldBe([("token.refreshed", "granted"), ("token.refreshed", "granted")]);
    }

    [Fact]
    public async Task A_kill_during_the_resend_still_resumes_and_the_record_keeps_when_the_first_attempt_began()
    {
        var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: 300));
        _world.Simulator.RefreshReuseGrace = TimeSpan.FromSeconds(300);
        var key = await _world.ConsumerAsync(account.Name);
        const string firstStart = "SELECT r.started_at FROM refresh_attempts r JOIN accounts a ON a.id = r.account_id WHERE a.name = $1";

        await using (var broker = await BrokerProcess.StartAsync(_settings))
        {
            await YieldsValidToken(broker, account, key, "before the first kill");
            await KillMidRefreshAsync(broker, account, key);
        }
        var began = await _world.ScalarAsync<DateTime>(firstStart, account.Name);

        // The restarted broker resends the same token within the grace; it is killed while that answer is held too.
        await using (var broker = await BrokerProcess.StartAsync(_settings))
            await KillMidRefreshAsync(broker, account, key);
        (await _world.ScalarAsync<DateTime>(firstStart, account.Name)).ShouldBe(began, "a resend does not move when the first attempt began");

        await using (var last = await BrokerProcess.StartAsync(_settings))
            await YieldsValidToken(last, account, key, "after the kill during the resend");

        _world.Simulator.TotalGraceRefreshes.ShouldBe(2, "both lost answers were recovered within the grace");
        _world.Simulator.RefreshReuses(account.Username).ShouldBe(0);
        (await ScalarAsync("SELECT count(*) FROM refresh_attempts")).ShouldBe(0);
        (await ScalarAsync("SELECT count(*) FROM audit_events WHERE action = 'token.refresh_resumed' AND outcome = 'retry_within_grace'"))
            .ShouldBe(2);
    }

    /// <summary>
    /// The simulator rotates the refresh token, then holds its answer; the broker is killed while it waits, so the
    /// rotated token is lost with it.
    /// </summary>
    private async Task KillMidRefreshAsync(BrokerProcess broker, RefreshOnlyAccount account, string key)
    {
        var refreshes = _world.Simulator.Refreshes(account.Username);
        var inFlight = _world.Simulator.InFlight;
        _world.Simulator.HoldAnswers();
        var refreshing = broker.TokenAsync(account.Name, key, minValidity: 3600);
        await _world.Simulator.WaitForInFlightAsync(inFlight + 1, TimeSpan.FromSeconds(60));
        broker.Kill();
        await refreshing.ContinueWith(_ => { }); // its connection just broke
        _world.Simulator.ReleaseAnswers();
        _world.Simulator.Refreshes(account.Username).ShouldBe(refreshes + 1, "the upstream rotated the token whose answer was lost");
    }

    /// <summary>A fetch that refreshes (so it first resolves what the last kill left behind) and serves a valid token.</summary>
    private async Task YieldsValidToken(BrokerProcess broker, RefreshOnlyAccount account, string key, string when)
    {
        using var response = await broker.TokenAsync(account.Name, key, minValidity: 3600);
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, $"{when}: {text}");
        _world.Simulator.IsValidAccessToken(JsonNode.Parse(text)!["access_token"]!.GetValue<string>()).ShouldBeTrue(when);
    }

    private Task<long> ScalarAsync(string sql) => _world.ScalarAsync<long>(sql);
}
