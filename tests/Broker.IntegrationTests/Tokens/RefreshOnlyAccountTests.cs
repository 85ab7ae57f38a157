using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Admin;
using Broker.IntegrationTests.Audit;
using Broker.IntegrationTests.Support;
using Broker.Simulator;

namespace Broker.IntegrationTests.Tokens;

/// <summary>
/// Accounts that cannot log in by themselves live on an imported refresh token (docs/providers.md, "Refresh-only
/// accounts"): the token is write-only, the chain survives upstream outages, a refused refresh asks for a person
/// and never for a login, and a refresh whose answer was lost is resumed only within the provider's reuse grace.
/// </summary>
public sealed class RefreshOnlyAccountTests(SharedWorld shared) : IClassFixture<SharedWorld>
{
    private readonly BrokerWorld _world = shared.World;

    // The simulator's totals when this test began: the class's tests share the world and run one after another.
    private readonly (int Logins, int FailedLogins, int RejectedRefreshes) _before =
        (shared.World.Simulator.TotalLogins, shared.World.Simulator.TotalFailedLogins, shared.World.Simulator.TotalRejectedRefreshes);

    [Fact]
    public async Task An_imported_refresh_token_is_write_only_and_an_account_without_password_is_served_through_it()
    {
        var provider = await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: null);
        var account = await _world.RefreshOnlyAccountAsync(provider);
        var imported = _world.Secrets[^1];
        var key = await _world.ConsumerAsync(account.Name);

        var shown = await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}");
        shown["can_log_in"]!.GetValue<bool>().ShouldBeFalse();
        shown["has_password"]!.GetValue<bool>().ShouldBeFalse();
        shown["state"]!.GetValue<string>().ShouldBe("active");
        shown["attention_reason"].ShouldBeNull();
        (await StoredRefreshTokenAsync(account.Name)).ShouldNotContain(imported, Case.Sensitive, "stored encrypted");

        var token = await _world.Broker.TokenAsync(account.Name, key);

        _world.Simulator.IsValidAccessToken(token).ShouldBeTrue();
        _world.Simulator.Refreshes(account.Username).ShouldBe(1);
        (_world.Simulator.TotalLogins - _before.Logins).ShouldBe(0);
        (_world.Simulator.TotalFailedLogins - _before.FailedLogins).ShouldBe(0);
        (await _world.CountAsync("action = 'account.refresh_token_imported' AND account_name = $1", account.Name)).ShouldBe(1);
        (await _world.CountAsync("strpos(coalesce(detail, ''), $1) > 0", imported)).ShouldBe(0);
        _world.Logs.Lines.Where(line => line.Contains(imported, StringComparison.Ordinal)).ShouldBeEmpty();
        _world.SecretsInAdminResponses().ShouldBeEmpty();
    }

    [Fact]
    public async Task Import_is_refused_for_a_dialect_without_refresh_and_for_text_that_is_not_a_token()
    {
        var clientCredentials = await _world.AccountAsync(DialectNames.OAuth2ClientCredentials);
        (await _world.SendAsync(HttpMethod.Put, $"/admin/accounts/{clientCredentials.Name}/refresh-token", body: new { refresh_token = "abc" }))
            .ShouldNameBadFields("refresh_token");

        var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: null));
        foreach (var bad in new[] { "", "line\nbreak", "caf\u00e9", new string('a', TokenText.MaxLength + 1) })
            (await _world.SendAsync(HttpMethod.Put, $"/admin/accounts/{account.Name}/refresh-token", body: new { refresh_token = bad }))
                .ShouldNameBadFields("refresh_token");
        (await _world.SendAsync(HttpMethod.Put, "/admin/accounts/no-such-account/refresh-token", body: new { refresh_token = "abc" }))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task A_transient_failure_keeps_the_refresh_token_and_the_next_refresh_continues_the_chain()
    {
        var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: null));
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);

        _world.Clock.Advance(SimulatorState.DefaultAccessLifetime);
        _world.Simulator.SetFault(Fault.ServerError, account.Username);
        (await _world.Broker.FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.ServiceUnavailable);
        var during = await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}");
        during["state"]!.GetValue<string>().ShouldBe("active");
        during["attention_reason"].ShouldBeNull();

        _world.Simulator.SetFault(Fault.None, account.Username);
        var token = await _world.Broker.TokenAsync(account.Name, key);

        _world.Simulator.IsValidAccessToken(token).ShouldBeTrue();
        _world.Simulator.Refreshes(account.Username).ShouldBe(2);
        _world.Simulator.RefreshReuses(account.Username).ShouldBe(0);
        (_world.Simulator.TotalLogins - _before.Logins).ShouldBe(0);
        (_world.Simulator.TotalFailedLogins - _before.FailedLogins).ShouldBe(0);
    }

    [Fact]
    public async Task A_refused_refresh_needs_a_reconnect_and_no_login_is_tried_and_a_new_token_reconnects()
    {
        var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: null));
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);
        _world.Secrets.Add("refresh-token-nobody-issued");
        await _world.AdminAsync(HttpMethod.Put, $"/admin/accounts/{account.Name}/refresh-token", new { refresh_token = "refresh-token-nobody-issued" });

        var (status, body, _) = await _world.Broker.FetchAsync(account.Name, key);
        status.ShouldBe(HttpStatusCode.Conflict);
        body["type"]!.GetValue<string>().ShouldEndWith("/errors/account-reconnect-required"); // the consumer is told what kind of help

        var blocked = await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}");
        blocked["state"]!.GetValue<string>().ShouldBe("needs_attention");
        blocked["attention_reason"]!.GetValue<string>().ShouldBe("reconnect_required");
        blocked["last_error"]!.GetValue<string>().ShouldContain("cannot log in by itself");
        var again = await _world.Broker.FetchAsync(account.Name, key); // and no further call
        again.Status.ShouldBe(HttpStatusCode.Conflict);
        again.Body["type"]!.GetValue<string>().ShouldEndWith("/errors/account-reconnect-required");
        (_world.Simulator.TotalLogins - _before.Logins).ShouldBe(0);
        (_world.Simulator.TotalFailedLogins - _before.FailedLogins).ShouldBe(0);
        (_world.Simulator.TotalRejectedRefreshes - _before.RejectedRefreshes).ShouldBe(1);

        await _world.ImportRefreshTokenAsync(account);
        await _world.Broker.TokenAsync(account.Name, key);
        var reconnected = await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}");
        reconnected["state"]!.GetValue<string>().ShouldBe("active");
        reconnected["attention_reason"].ShouldBeNull();
    }

    [Fact]
    public async Task A_spent_refresh_token_imported_again_is_a_reuse_the_upstream_refuses_and_the_account_needs_a_reconnect()
    {
        var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: null));
        var spent = _world.Secrets[^1];
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);

        await _world.AdminAsync(HttpMethod.Put, $"/admin/accounts/{account.Name}/refresh-token", new { refresh_token = spent });
        (await _world.Broker.FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.Conflict);

        _world.Simulator.RefreshReuses(account.Username).ShouldBe(1);
        (await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}"))["attention_reason"]!.GetValue<string>()
            .ShouldBe("reconnect_required");
        (_world.Simulator.TotalLogins - _before.Logins).ShouldBe(0);
    }

    [Fact]
    public async Task Without_rotation_upstream_the_same_refresh_token_keeps_serving()
    {
        _world.Simulator.OAuth2RotateRefreshTokens = false; // for the whole simulator: set back for the next tests
        try
        {
            var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: null));
            var key = await _world.ConsumerAsync(account.Name);

            for (var expiry = 0; expiry < 3; expiry++)
            {
                await _world.Broker.TokenAsync(account.Name, key);
                _world.Clock.Advance(SimulatorState.DefaultAccessLifetime);
            }

            _world.Simulator.Refreshes(account.Username).ShouldBe(3);
            _world.Simulator.RefreshReuses(account.Username).ShouldBe(0);
        }
        finally
        {
            _world.Simulator.OAuth2RotateRefreshTokens = true;
        }
    }

    [Fact]
    public async Task Refused_client_credentials_block_the_account_but_keep_its_chain_for_when_an_admin_corrects_them()
    {
        var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: null));
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);
        _world.Secrets.Add("cs-rotated-upstream");
        _world.Simulator.AddClient(account.ClientId, "cs-rotated-upstream");

        _world.Clock.Advance(SimulatorState.DefaultAccessLifetime);
        var (status, body, _) = await _world.Broker.FetchAsync(account.Name, key);
        status.ShouldBe(HttpStatusCode.Conflict);
        body["type"]!.GetValue<string>().ShouldEndWith("/errors/upstream-credentials-rejected");
        (await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}"))["attention_reason"]!.GetValue<string>()
            .ShouldBe("credentials_rejected");

        await _world.AdminAsync(HttpMethod.Patch, $"/admin/accounts/{account.Name}", new { client_secret = "cs-rotated-upstream" });
        var token = await _world.Broker.TokenAsync(account.Name, key);

        _world.Simulator.IsValidAccessToken(token).ShouldBeTrue();
        _world.Simulator.Refreshes(account.Username).ShouldBe(2);
        (_world.Simulator.TotalLogins - _before.Logins).ShouldBe(0);
    }

    [Fact]
    public async Task A_refresh_begun_and_never_answered_is_sent_again_within_the_providers_reuse_grace()
    {
        var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: 60));
        var key = await _world.ConsumerAsync(account.Name);
        await RecordUnfinishedRefreshAsync(account.Name, _world.Secrets[^1], _world.Clock.GetUtcNow().AddSeconds(-30));

        await _world.Broker.TokenAsync(account.Name, key);

        _world.Simulator.Refreshes(account.Username).ShouldBe(1);
        (await _world.CountAsync("action = 'token.refresh_resumed' AND outcome = 'retry_within_grace' AND account_name = $1", account.Name)).ShouldBe(1);
        (await UnfinishedRefreshesAsync()).ShouldBe(0);
    }

    [Fact]
    public async Task A_refresh_begun_and_never_answered_once_the_reuse_grace_has_passed_needs_a_reconnect_and_sends_nothing()
    {
        var account = await _world.RefreshOnlyAccountAsync(await _world.RefreshOnlyProviderAsync(reuseGraceSeconds: 60));
        var key = await _world.ConsumerAsync(account.Name);
        var now = _world.Clock.GetUtcNow();
        var startedAt = new DateTimeOffset(now.UtcTicks - now.UtcTicks % TimeSpan.TicksPerSecond, TimeSpan.Zero).AddSeconds(-61); // the grace has passed
        await RecordUnfinishedRefreshAsync(account.Name, _world.Secrets[^1], startedAt);
        var requests = _world.Simulator.TotalRequests;

        (await _world.Broker.FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.Conflict);

        _world.Simulator.TotalRequests.ShouldBe(requests);
        var blocked = await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}");
        blocked["attention_reason"]!.GetValue<string>().ShouldBe("reconnect_required");
        blocked["last_error"]!.GetValue<string>().ShouldContain($"a refresh begun at {startedAt:O} was interrupted");
        (await _world.CountAsync("action = 'token.refresh_resumed' AND outcome = 'reconnect_required' AND account_name = $1", account.Name)).ShouldBe(1);
        (await UnfinishedRefreshesAsync()).ShouldBe(0);
    }

    [Fact]
    public async Task An_account_that_can_log_in_logs_in_after_a_refresh_whose_answer_was_lost()
    {
        var account = await _world.AccountAsync(DialectNames.OAuth2Password);
        var key = await _world.ConsumerAsync(account.Name);
        var refreshToken = "refresh-token-maybe-spent";
        _world.Secrets.Add(refreshToken);
        await _world.AdminAsync(HttpMethod.Put, $"/admin/accounts/{account.Name}/refresh-token", new { refresh_token = refreshToken });
        await RecordUnfinishedRefreshAsync(account.Name, refreshToken, _world.Clock.GetUtcNow());

        await _world.Broker.TokenAsync(account.Name, key);

        _world.Simulator.Logins(account.Username).ShouldBe(1);
        (_world.Simulator.TotalRejectedRefreshes - _before.RejectedRefreshes).ShouldBe(0, "the maybe-spent token is not sent");
        (await _world.CountAsync("action = 'token.refresh_resumed' AND outcome = 'log_in' AND account_name = $1", account.Name)).ShouldBe(1);
    }

    /// <summary>What a broker that died after sending a refresh with <paramref name="refreshToken"/> leaves behind.</summary>
    private Task RecordUnfinishedRefreshAsync(string account, string refreshToken, DateTimeOffset startedAt) =>
        _world.ExecuteAsync("INSERT INTO refresh_attempts (account_id, started_at, token_sha256) SELECT id, $2, $3 FROM accounts WHERE name = $1",
            account, startedAt, RefreshAttempt.Hash(refreshToken));

    private async Task<long> UnfinishedRefreshesAsync() => await ScalarAsync<long>("SELECT count(*) FROM refresh_attempts");

    private Task<string> StoredRefreshTokenAsync(string account) =>
        ScalarAsync<string>("SELECT refresh_token_encrypted FROM accounts WHERE name = $1", account);

    private Task<T> ScalarAsync<T>(string sql, params object[] parameters) => _world.ScalarAsync<T>(sql, parameters);
}
