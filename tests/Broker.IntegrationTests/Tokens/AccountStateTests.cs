using System.Net;
using System.Net.Http.Json;
using Broker.IntegrationTests.Audit;
using Broker.Domain;
using Broker.IntegrationTests.Support;
using Broker.Simulator;

namespace Broker.IntegrationTests.Tokens;

/// <summary>What upstream failures do to an account, and what the caller sees.</summary>
public sealed class AccountStateTests(AccountStateTests.ShortUpstreamTimeout shared) : IClassFixture<AccountStateTests.ShortUpstreamTimeout>
{
    public sealed class ShortUpstreamTimeout : SharedWorld
    {
        protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?> { ["Broker:Upstream:Timeout"] = "00:00:01" };
    }

    // Tests that make the upstream fail do it on a provider of their own: its circuit breaker is theirs alone.
    private readonly BrokerWorld _world = shared.World;

    [Theory]
    [InlineData(DialectNames.SlideRule)]
    [InlineData(DialectNames.SimpleJwt)]
    [InlineData(DialectNames.Keycloak)]
    [InlineData(DialectNames.OAuth2Password)]
    public async Task Rejected_credentials_mark_the_account_and_stop_logins_until_an_admin_updates_them(string dialect)
    {
        var account = await _world.AccountAsync(dialect);
        var key = await _world.ConsumerAsync(account.Name);
        _world.Simulator.SetPassword(account.Username, "changed-upstream");

        var (status, body, _) = await _world.Broker.FetchAsync(account.Name, key);
        status.ShouldBe(HttpStatusCode.Conflict);
        body["type"]!.GetValue<string>().ShouldEndWith("/errors/upstream-credentials-rejected");
        var read = await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}");
        read["state"]!.GetValue<string>().ShouldBe("needs_attention");
        read["last_error"]!.GetValue<string>().ShouldNotBeNullOrEmpty();

        for (var i = 0; i < 5; i++)
            (await _world.Broker.FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.Conflict);
        _world.Simulator.FailedLogins(account.Username).ShouldBe(1);

        _world.Secrets.Add("changed-upstream");
        var updated = await _world.AdminAsync(HttpMethod.Patch, $"/admin/accounts/{account.Name}", new { password = "changed-upstream" });
        updated["state"]!.GetValue<string>().ShouldBe("active");
        updated["last_error"].ShouldBeNull();

        var token = await _world.Broker.TokenAsync(account.Name, key);
        _world.Simulator.IsValidAccessToken(token).ShouldBeTrue();
        _world.Simulator.Logins(account.Username).ShouldBe(1);
    }

    [Fact]
    public async Task Inactive_member_marks_the_account_inactive_and_stops_upstream_calls()
    {
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);
        _world.Simulator.SetActive(account.Username, false);
        _world.Clock.Advance(SimulatorState.DefaultAccessLifetime);

        var (status, body, _) = await _world.Broker.FetchAsync(account.Name, key);
        status.ShouldBe(HttpStatusCode.Conflict);
        body["type"]!.GetValue<string>().ShouldEndWith("/errors/account-inactive");
        (await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}"))["state"]!.GetValue<string>().ShouldBe("inactive");

        var requests = _world.Simulator.TotalRequests;
        (await _world.Broker.FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.Conflict);
        _world.Simulator.TotalRequests.ShouldBe(requests);
    }

    [Fact]
    public async Task Upstream_down_gives_503_with_retry_after_and_leaves_the_account_alone()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt, await _world.NewProviderAsync(DialectNames.SimpleJwt));
        var key = await _world.ConsumerAsync(account.Name);
        _world.Simulator.SetFault(Fault.ServerError, account.Username);

        var (status, body, response) = await _world.Broker.FetchAsync(account.Name, key);

        status.ShouldBe(HttpStatusCode.ServiceUnavailable);
        body["type"]!.GetValue<string>().ShouldEndWith("/errors/upstream-unavailable");
        response.Headers.RetryAfter!.Delta!.Value.ShouldBeGreaterThan(TimeSpan.Zero);
        (await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}"))["state"]!.GetValue<string>().ShouldBe("active");

        _world.Simulator.SetFault(Fault.None, account.Username);
        (await _world.Broker.FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Upstream_that_does_not_answer_gives_504()
    {
        var account = await _world.AccountAsync(DialectNames.Keycloak, await _world.NewProviderAsync(DialectNames.Keycloak));
        var key = await _world.ConsumerAsync(account.Name);
        _world.Simulator.SetFault(Fault.Timeout, account.Username);

        var (status, body, response) = await _world.Broker.FetchAsync(account.Name, key);

        status.ShouldBe(HttpStatusCode.GatewayTimeout);
        body["type"]!.GetValue<string>().ShouldEndWith("/errors/upstream-timeout");
        response.Headers.RetryAfter.ShouldNotBeNull();
    }

    [Fact]
    public async Task Unreadable_upstream_answer_gives_502()
    {
        var account = await _world.AccountAsync(DialectNames.OAuth2Password, await _world.NewProviderAsync(DialectNames.OAuth2Password));
        var key = await _world.ConsumerAsync(account.Name);
        _world.Simulator.SetFault(Fault.Garbage, account.Username);

        var (status, body, _) = await _world.Broker.FetchAsync(account.Name, key);

        status.ShouldBe(HttpStatusCode.BadGateway);
        body["type"]!.GetValue<string>().ShouldEndWith("/errors/upstream-protocol-error");
    }

    [Fact]
    public async Task Still_valid_token_is_served_while_the_upstream_is_down()
    {
        var account = await _world.AccountAsync(DialectNames.SlideRule, await _world.NewProviderAsync(DialectNames.SlideRule));
        var key = await _world.ConsumerAsync(account.Name);
        var token = await _world.Broker.TokenAsync(account.Name, key);
        _world.Simulator.SetFault(Fault.ServerError, account.Username);

        // 4 minutes in, the 5-minute token no longer meets the default min_validity plus clock skew, but still works.
        _world.Clock.Advance(TimeSpan.FromMinutes(4));
        (await _world.Broker.TokenAsync(account.Name, key, minValidity: 0)).ShouldBe(token);
    }

    [Fact]
    public async Task Client_without_the_grant_gets_403_and_no_key_gets_401()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var other = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(other.Name);

        var (status, body, _) = await _world.Broker.FetchAsync(account.Name, key);
        status.ShouldBe(HttpStatusCode.Forbidden);
        body["type"]!.GetValue<string>().ShouldEndWith("/errors/not-granted");

        (await _world.Broker.FetchAsync(account.Name, BrokerWorld.AdminKey)).Status.ShouldBe(HttpStatusCode.Forbidden);
        (await _world.Broker.GetAsync($"/v1/accounts/{account.Name}/token", null)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await _world.Broker.GetAsync($"/v1/accounts/{account.Name}/token", "brk_not-a-key")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        _world.Simulator.Logins(account.Username).ShouldBe(0);
    }

    [Fact]
    public async Task Reporting_a_rejected_token_without_the_grant_is_refused_and_recorded_like_a_fetch_without_it()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var other = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(other.Name);

        using var report = await _world.Broker.SendAsync(_world.Broker.Request(HttpMethod.Post, $"/v1/accounts/{account.Name}/token/rejected", key,
            JsonContent.Create(new { })));
        report.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await report.Content.ReadAsStringAsync()).ShouldContain("/errors/not-granted");
        (await _world.Broker.FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.Forbidden);

        await _world.DrainAsync();
        (await _world.EventsAsync("action = 'token.failed' AND outcome = 'not_granted' AND account_name = $1", account.Name)).ShouldBe(2);
        (await _world.CountAsync("account_name = $1 AND action IN ('auth.forbidden', 'request.failed', 'token.rejected')", account.Name)).ShouldBe(0);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-5")]
    [InlineData("99999999999")]
    [InlineData("1&min_validity=2")]
    public async Task Bad_min_validity_is_a_400_problem(string value)
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(account.Name);
        var requests = _world.Simulator.TotalRequests;

        var response = await _world.Broker.GetAsync($"/v1/accounts/{account.Name}/token?min_validity={value}", key);

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        _world.Simulator.TotalRequests.ShouldBe(requests);
    }
}
