using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Support;
using Broker.Simulator;

namespace Broker.IntegrationTests.Admin;

/// <summary>Accounts through the admin API: CRUD, validation, write-only secrets, and the test and revoke actions against the simulator.</summary>
public sealed class AccountAdminTests(SharedWorld shared) : IClassFixture<SharedWorld>
{
    // Tests that make the upstream fail do it on a provider of their own: its circuit breaker is theirs alone.
    private readonly BrokerWorld _world = shared.World;

    // Only what a refresh sends is required of a dialect that refreshes: without what it logs in with, the account is refresh-only.
    public static TheoryData<string, string[]> MissingCredentials => new()
    {
        { DialectNames.OAuth2Password, ["client_id"] },
        { DialectNames.OAuth2ClientCredentials, ["client_id", "client_secret"] },
    };

    [Theory]
    [InlineData(DialectNames.SlideRule)]
    [InlineData(DialectNames.SimpleJwt)]
    [InlineData(DialectNames.Keycloak)]
    public async Task An_account_without_login_credentials_is_created_refresh_only(string dialect)
    {
        var provider = await _world.ProviderAsync(dialect);
        var created = await _world.AdminAsync(HttpMethod.Post, "/admin/accounts", new { name = $"refresh-only-{dialect}", provider }, HttpStatusCode.Created);

        created["can_log_in"]!.GetValue<bool>().ShouldBeFalse();
        created["state"]!.GetValue<string>().ShouldBe("active");
    }

    [Theory, MemberData(nameof(MissingCredentials))]
    public async Task Each_credential_the_dialect_needs_is_named_when_missing(string dialect, string[] missing)
    {
        var provider = await _world.ProviderAsync(dialect);
        (await _world.SendAsync(HttpMethod.Post, "/admin/accounts", body: new { name = $"missing-{dialect}", provider })).ShouldNameBadFields(missing);
    }

    [Fact]
    public async Task Client_credentials_on_the_provider_satisfy_its_accounts()
    {
        _world.Secrets.Add("shared-secret");
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers", new
        {
            name = "cc-with-client", dialect = "oauth2-client-credentials", token_url = new Uri(_world.SimulatorHost.BaseAddress, "o/token/").ToString(),
            client_id = "shared", client_secret = "shared-secret",
        }, HttpStatusCode.Created);

        var created = await _world.AdminAsync(HttpMethod.Post, "/admin/accounts", new { name = "cc-satisfied", provider = "cc-with-client" }, HttpStatusCode.Created);

        created["has_client_secret"]!.GetValue<bool>().ShouldBeFalse();
    }

    [Fact]
    public async Task Unknown_provider_missing_name_and_over_long_fields_are_named_together()
    {
        var secret = new string('p', 4001);
        _world.Secrets.Add(secret);
        var answer = await _world.SendAsync(HttpMethod.Post, "/admin/accounts", body: new
        {
            provider = "nope", username = new string('u', 201), password = secret, org_name = new string('o', 201),
            client_id = new string('c', 201), scope = new string('s', 1001),
        });
        answer.ShouldNameBadFields("name", "provider", "username", "password", "org_name", "client_id", "scope");
    }

    [Fact]
    public async Task Duplicate_name_is_409()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        (await _world.SendAsync(HttpMethod.Post, "/admin/accounts",
                body: new { name = account.Name, provider = "sim-simplejwt", username = "u", password = "p" }))
            .ShouldBeProblem(HttpStatusCode.Conflict, "conflict");
    }

    [Fact]
    public async Task Reads_show_state_and_expiry_but_never_a_secret()
    {
        var account = await _world.AccountAsync(DialectNames.OAuth2Password);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);

        var read = await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}");

        read["state"]!.GetValue<string>().ShouldBe("active");
        read["has_password"]!.GetValue<bool>().ShouldBeTrue();
        read["has_client_secret"]!.GetValue<bool>().ShouldBeTrue();
        read["access_expires_at"].ShouldNotBeNull();
        read["last_error"].ShouldBeNull();
        string[] never = ["password", "client_secret", "access_token", "refresh_token"];
        never.ShouldAllBe(field => !read.ContainsKey(field));
        var listed = (await _world.AdminAsync(HttpMethod.Get, "/admin/accounts"))["items"]!.AsArray()
            .Where(item => item!["name"]!.GetValue<string>() == account.Name).ShouldHaveSingleItem()!.AsObject();
        listed["state"]!.GetValue<string>().ShouldBe("active");
        never.ShouldAllBe(field => !listed.ContainsKey(field));
    }

    [Fact]
    public async Task Put_without_the_password_keeps_it_and_the_account_still_logs_in()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(account.Name);

        var replaced = await _world.AdminAsync(HttpMethod.Put, $"/admin/accounts/{account.Name}",
            new { provider = "sim-simplejwt", username = account.Username, scope = "read" });

        replaced["has_password"]!.GetValue<bool>().ShouldBeTrue();
        replaced["scope"]!.GetValue<string>().ShouldBe("read");
        _world.Simulator.IsValidAccessToken(await _world.Broker.TokenAsync(account.Name, key)).ShouldBeTrue();
    }

    [Fact]
    public async Task Put_with_a_new_password_clears_needs_attention_and_the_stored_tokens()
    {
        var account = await _world.AccountAsync(DialectNames.Keycloak);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);
        _world.Simulator.SetPassword(account.Username, "new-upstream-pw");
        _world.Secrets.Add("new-upstream-pw");
        _world.Clock.Advance(TimeSpan.FromDays(31)); // past the refresh token too: the next fetch logs in, and is rejected
        (await _world.Broker.FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.Conflict);
        (await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}"))["state"]!.GetValue<string>().ShouldBe("needs_attention");

        var replaced = await _world.AdminAsync(HttpMethod.Put, $"/admin/accounts/{account.Name}",
            new { provider = "sim-keycloak", username = account.Username, password = "new-upstream-pw" });

        replaced["state"]!.GetValue<string>().ShouldBe("active");
        replaced["last_error"].ShouldBeNull();
        replaced["access_expires_at"].ShouldBeNull();
        _world.Simulator.IsValidAccessToken(await _world.Broker.TokenAsync(account.Name, key)).ShouldBeTrue();
    }

    [Fact]
    public async Task New_secret_drops_the_token_this_instance_holds_in_memory()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(account.Name);
        var before = await _world.Broker.TokenAsync(account.Name, key);
        _world.Secrets.Add("rotated-pw");
        _world.Simulator.SetPassword(account.Username, "rotated-pw");

        await _world.AdminAsync(HttpMethod.Patch, $"/admin/accounts/{account.Name}", new { password = "rotated-pw" });

        var after = await _world.Broker.TokenAsync(account.Name, key);
        after.ShouldNotBe(before);
        _world.Simulator.Logins(account.Username).ShouldBe(2);
    }

    [Fact]
    public async Task Put_and_patch_cannot_remove_a_credential_the_dialect_needs()
    {
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        (await _world.SendAsync(HttpMethod.Patch, $"/admin/accounts/{account.Name}", body: new { password = "", org_name = "" }))
            .ShouldNameBadFields("org_name", "password");
        (await _world.SendAsync(HttpMethod.Put, $"/admin/accounts/{account.Name}", body: new { provider = "sim-sliderule", username = account.Username }))
            .ShouldNameBadFields("org_name");
        (await _world.SendAsync(HttpMethod.Put, $"/admin/accounts/{account.Name}",
                body: new { name = "renamed", provider = "sim-sliderule", username = account.Username, org_name = "UofMDTest" }))
            .ShouldNameBadFields("name");
    }

    [Fact]
    public async Task Patch_with_empty_text_removes_an_optional_override()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        (await _world.AdminAsync(HttpMethod.Patch, $"/admin/accounts/{account.Name}", new { scope = "read" }))["scope"]!.GetValue<string>().ShouldBe("read");
        (await _world.AdminAsync(HttpMethod.Patch, $"/admin/accounts/{account.Name}", new { scope = "" }))["scope"].ShouldBeNull();
    }

    [Fact]
    public async Task Patch_can_move_an_account_to_another_provider()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        await _world.ProviderAsync(DialectNames.Keycloak);
        var moved = await _world.AdminAsync(HttpMethod.Patch, $"/admin/accounts/{account.Name}", new { provider = "sim-keycloak" });
        moved["provider"]!.GetValue<string>().ShouldBe("sim-keycloak");
        (await _world.SendAsync(HttpMethod.Patch, $"/admin/accounts/{account.Name}", body: new { provider = "nope" })).ShouldNameBadFields("provider");
    }

    [Fact]
    public async Task Delete_removes_the_account_and_the_grants_on_it()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);

        await _world.AdminAsync(HttpMethod.Delete, $"/admin/accounts/{account.Name}", expect: HttpStatusCode.NoContent);

        (await _world.SendAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await _world.Broker.FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.Forbidden);
        (await _world.SendAsync(HttpMethod.Delete, $"/admin/accounts/{account.Name}")).Status.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Test_logs_in_now_and_stores_the_token_set_the_next_fetch_serves()
    {
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        var key = await _world.ConsumerAsync(account.Name);

        var tested = await _world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{account.Name}/test");

        tested["logged_in"]!.GetValue<bool>().ShouldBeTrue();
        tested["failure"].ShouldBeNull();
        tested["state"]!.GetValue<string>().ShouldBe("active");
        tested["access_expires_at"]!.GetValue<DateTimeOffset>().ShouldBeGreaterThan(_world.Clock.GetUtcNow());
        _world.Simulator.Logins(account.Username).ShouldBe(1);

        var requests = _world.Simulator.TotalRequests;
        _world.Simulator.IsValidAccessToken(await _world.Broker.TokenAsync(account.Name, key)).ShouldBeTrue();
        _world.Simulator.TotalRequests.ShouldBe(requests);
    }

    [Fact]
    public async Task Test_logs_in_even_when_a_valid_token_is_stored()
    {
        var account = await _world.AccountAsync(DialectNames.OAuth2Password);
        var key = await _world.ConsumerAsync(account.Name);
        var before = await _world.Broker.TokenAsync(account.Name, key);

        (await _world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{account.Name}/test"))["logged_in"]!.GetValue<bool>().ShouldBeTrue();

        _world.Simulator.Logins(account.Username).ShouldBe(2);
        _world.Simulator.Refreshes(account.Username).ShouldBe(0);
        (await _world.Broker.TokenAsync(account.Name, key)).ShouldNotBe(before);
    }

    [Fact]
    public async Task Test_with_rejected_credentials_reports_needs_attention_and_the_upstream_error()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        _world.Simulator.SetPassword(account.Username, "changed-upstream");
        _world.Secrets.Add("changed-upstream");

        var tested = await _world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{account.Name}/test");

        tested["logged_in"]!.GetValue<bool>().ShouldBeFalse();
        tested["failure"]!.GetValue<string>().ShouldBe("needs_attention");
        tested["state"]!.GetValue<string>().ShouldBe("needs_attention");
        tested["last_error"]!.GetValue<string>().ShouldNotBeNullOrEmpty();
        tested["access_expires_at"].ShouldBeNull();
        var read = await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}");
        read["state"]!.GetValue<string>().ShouldBe("needs_attention");
        read["last_error"]!.GetValue<string>().ShouldBe(tested["last_error"]!.GetValue<string>());
    }

    [Fact]
    public async Task Test_tries_a_blocked_account_again_once_the_upstream_is_fixed()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        _world.Simulator.SetFault(Fault.RejectCredentials, account.Username);
        (await _world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{account.Name}/test"))["state"]!.GetValue<string>().ShouldBe("needs_attention");
        _world.Simulator.SetFault(Fault.None, account.Username);

        var tested = await _world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{account.Name}/test");

        tested["logged_in"]!.GetValue<bool>().ShouldBeTrue();
        tested["state"]!.GetValue<string>().ShouldBe("active");
        tested["last_error"].ShouldBeNull();
    }

    [Fact]
    public async Task Test_with_the_upstream_down_reports_it_and_keeps_the_account_active()
    {
        var account = await _world.AccountAsync(DialectNames.Keycloak, await _world.NewProviderAsync(DialectNames.Keycloak));
        _world.Simulator.SetFault(Fault.ServerError, account.Username);

        var tested = await _world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{account.Name}/test");

        tested["logged_in"]!.GetValue<bool>().ShouldBeFalse();
        tested["failure"]!.GetValue<string>().ShouldBe("upstream_unavailable");
        tested["state"]!.GetValue<string>().ShouldBe("active");
        tested["last_error"]!.GetValue<string>().ShouldNotBeNullOrEmpty();
    }

    [Fact]
    public async Task Test_is_audited_with_the_admin_as_the_caller_of_the_upstream_login()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        await _world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{account.Name}/test");

        var login = (await AuditRows.ReadAsync(_world, "token.obtained")).Where(r => r.Account == account.Name).ShouldHaveSingleItem();
        login.Client.ShouldBe("bootstrap-admin");
        var tested = (await AuditRows.ReadAsync(_world, "account.tested")).Where(r => r.Account == account.Name).ShouldHaveSingleItem();
        tested.Outcome.ShouldBe("ok");
    }

    [Fact]
    public async Task Revoke_drops_the_stored_tokens_and_the_next_fetch_logs_in_again()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(account.Name);
        var before = await _world.Broker.TokenAsync(account.Name, key);

        var revoked = await _world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{account.Name}/revoke");

        revoked["access_expires_at"].ShouldBeNull();
        revoked["refresh_expires_at"].ShouldBeNull();
        revoked["state"]!.GetValue<string>().ShouldBe("active");
        var after = await _world.Broker.TokenAsync(account.Name, key);
        after.ShouldNotBe(before);
        _world.Simulator.Logins(account.Username).ShouldBe(2);
        _world.Simulator.Refreshes(account.Username).ShouldBe(0);
        (await AuditRows.ReadAsync(_world, "account.revoked")).Where(r => r.Account == account.Name).ShouldHaveSingleItem().Client.ShouldBe("bootstrap-admin");
    }

    [Fact]
    public async Task Test_and_revoke_of_an_unknown_account_are_404()
    {
        (await _world.SendAsync(HttpMethod.Post, "/admin/accounts/nope/test")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await _world.SendAsync(HttpMethod.Post, "/admin/accounts/nope/revoke")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await _world.SendAsync(HttpMethod.Patch, "/admin/accounts/nope", body: new { scope = "x" })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Account_changes_are_audited_with_field_names_only()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        _world.Secrets.Add("patched-pw");
        await _world.AdminAsync(HttpMethod.Patch, $"/admin/accounts/{account.Name}", new { password = "patched-pw", scope = "read" });
        await _world.AdminAsync(HttpMethod.Delete, $"/admin/accounts/{account.Name}", expect: HttpStatusCode.NoContent);

        var rows = (await AuditRows.ReadAsync(_world, "account.%")).Where(r => r.Account == account.Name).ToList();
        rows.Select(r => r.Action).ShouldBe(["account.created", "account.updated", "account.deleted"]);
        rows[1].Detail.ShouldBe("changed: scope, password");
        rows.ShouldAllBe(r => r.Client == "bootstrap-admin");
    }
}
