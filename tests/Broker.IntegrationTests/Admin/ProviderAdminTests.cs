using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Admin;

/// <summary>Providers through the admin API: create, read, replace, delete, and every validation rule.</summary>
public sealed class ProviderAdminTests(SharedWorld shared) : IClassFixture<SharedWorld>
{
    // Tests that change or delete a provider do it to one of their own, never to a dialect's shared one.
    private readonly BrokerWorld _world = shared.World;

    private string SimUrl(string path = "api/v3/accounts/token/obtain/") => new Uri(_world.SimulatorHost.BaseAddress, path).ToString();

    [Fact]
    public async Task Created_provider_reads_back_with_its_effective_refresh_url_and_without_its_secret()
    {
        _world.Secrets.Add("provider-secret-1");
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers", new
        {
            name = "idp-read-back", dialect = "oauth2-password", token_url = "https://idp.example/o/token/", client_id = "app",
            client_secret = "provider-secret-1", client_authentication = "body", scope = "read",
        }, HttpStatusCode.Created);

        var read = await _world.AdminAsync(HttpMethod.Get, "/admin/providers/idp-read-back");

        read["dialect"]!.GetValue<string>().ShouldBe("oauth2-password");
        read["effective_refresh_url"]!.GetValue<string>().ShouldBe("https://idp.example/o/token/");
        read["has_client_secret"]!.GetValue<bool>().ShouldBeTrue();
        read["client_authentication"]!.GetValue<string>().ShouldBe("body");
        read.ContainsKey("client_secret").ShouldBeFalse();
        var list = await _world.AdminAsync(HttpMethod.Get, "/admin/providers");
        var listed = list["items"]!.AsArray().Where(p => p!["name"]!.GetValue<string>() == "idp-read-back").ShouldHaveSingleItem()!.AsObject();
        listed["has_client_secret"]!.GetValue<bool>().ShouldBeTrue();
        listed.ContainsKey("client_secret").ShouldBeFalse();
    }

    [Fact]
    public async Task Unknown_provider_is_404_problem_on_every_route()
    {
        (await _world.SendAsync(HttpMethod.Get, "/admin/providers/nope")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await _world.SendAsync(HttpMethod.Put, "/admin/providers/nope", body: new { dialect = "simplejwt", token_url = SimUrl() }))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await _world.SendAsync(HttpMethod.Delete, "/admin/providers/nope")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Unknown_dialect_is_named()
    {
        var answer = await _world.SendAsync(HttpMethod.Post, "/admin/providers", body: new { name = "saml-provider", dialect = "saml", token_url = SimUrl() });
        answer.ShouldNameBadFields("dialect");
        answer.Json["errors"]!["dialect"]![0]!.GetValue<string>().ShouldContain("sliderule");
    }

    [Theory]
    [InlineData("not a url")]
    [InlineData("/relative/path")]
    [InlineData("ftp://files.example/token")]
    [InlineData("file:///etc/passwd")]
    [InlineData("javascript:alert(1)")]
    public async Task Malformed_or_non_http_urls_are_named(string url)
    {
        var answer = await _world.SendAsync(HttpMethod.Post, "/admin/providers",
            body: new { name = "bad-url", dialect = "simplejwt", token_url = url, refresh_url = url });
        answer.ShouldNameBadFields("refresh_url", "token_url");
    }

    [Fact]
    public async Task Url_with_user_info_is_refused_and_its_password_not_echoed()
    {
        _world.Secrets.Add("hunter2-in-url");
        var answer = await _world.SendAsync(HttpMethod.Post, "/admin/providers",
            body: new { name = "url-with-user-info", dialect = "simplejwt", token_url = "https://admin:hunter2-in-url@idp.example/token" });
        answer.ShouldNameBadFields("token_url");
        answer.Text.ShouldContain("credentials");
    }

    [Fact]
    public async Task Every_bad_field_is_named_in_one_answer()
    {
        var answer = await _world.SendAsync(HttpMethod.Post, "/admin/providers", body: new
        {
            name = new string('n', 101), dialect = "simplejwt", token_url = SimUrl(), client_id = new string('c', 201),
            client_secret = new string('s', 4001), scope = new string('x', 1001), refresh_token_field = new string('f', 101),
            client_authentication = "digest", default_access_lifetime_seconds = 0, default_refresh_lifetime_seconds = 40_000_000,
        });
        answer.ShouldNameBadFields("name", "client_id", "client_secret", "scope", "refresh_token_field", "client_authentication",
            "default_access_lifetime_seconds", "default_refresh_lifetime_seconds");
        answer.Text.ShouldNotContain(new string('s', 4001));
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("-leading-dash")]
    [InlineData("slash/inside")]
    public async Task Names_that_cannot_be_a_url_segment_are_refused(string name)
    {
        (await _world.SendAsync(HttpMethod.Post, "/admin/providers", body: new { name, dialect = "simplejwt", token_url = SimUrl() }))
            .ShouldNameBadFields("name");
    }

    [Fact]
    public async Task Missing_required_fields_are_named()
    {
        (await _world.SendAsync(HttpMethod.Post, "/admin/providers", rawBody: "{}")).ShouldNameBadFields("dialect", "name", "token_url");
    }

    [Fact]
    public async Task Duplicate_name_is_409()
    {
        var existing = await _world.NewProviderAsync(DialectNames.SimpleJwt, "duplicated");
        (await _world.SendAsync(HttpMethod.Post, "/admin/providers", body: new { name = existing, dialect = "keycloak", token_url = SimUrl() }))
            .ShouldBeProblem(HttpStatusCode.Conflict, "conflict");
    }

    [Fact]
    public async Task Put_replaces_the_settings_and_keeps_a_secret_it_does_not_mention_while_the_destination_stays()
    {
        _world.Secrets.Add("kept-secret");
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers",
            new { name = "idp-replaced", dialect = "oauth2-client-credentials", token_url = SimUrl("o/token/"), client_id = "a", client_secret = "kept-secret", scope = "read" },
            HttpStatusCode.Created);

        var replaced = await _world.AdminAsync(HttpMethod.Put, "/admin/providers/idp-replaced",
            new { dialect = "oauth2-client-credentials", token_url = SimUrl("o/token/"), client_id = "b" });

        replaced["client_id"]!.GetValue<string>().ShouldBe("b");
        replaced["scope"].ShouldBeNull(); // PUT is a full replace: what is left out is cleared...
        replaced["has_client_secret"]!.GetValue<bool>().ShouldBeTrue(); // ...but a write-only secret is kept when not given

        // A new destination without the secret re-entered clears it (docs/providers.md, "Where secrets go").
        var moved = await _world.AdminAsync(HttpMethod.Put, "/admin/providers/idp-replaced",
            new { dialect = "oauth2-client-credentials", token_url = SimUrl("o/token2/"), client_id = "b" });
        moved["token_url"]!.GetValue<string>().ShouldEndWith("/o/token2/");
        moved["has_client_secret"]!.GetValue<bool>().ShouldBeFalse();

        var removed = await _world.AdminAsync(HttpMethod.Put, "/admin/providers/idp-replaced",
            new { dialect = "oauth2-password", token_url = SimUrl("o/token2/"), client_id = "b", client_secret = "" });
        removed["has_client_secret"]!.GetValue<bool>().ShouldBeFalse();
    }

    [Fact]
    public async Task Put_cannot_rename()
    {
        var provider = await _world.NewProviderAsync(DialectNames.SimpleJwt, "not-renamed");
        (await _world.SendAsync(HttpMethod.Put, $"/admin/providers/{provider}", body: new { name = "other", dialect = "simplejwt", token_url = SimUrl() }))
            .ShouldNameBadFields("name");
    }

    [Fact]
    public async Task Put_that_would_leave_an_account_without_a_credential_its_dialect_needs_names_it()
    {
        var provider = await _world.NewProviderAsync(DialectNames.SimpleJwt, "kept-simplejwt");
        var account = await _world.AccountAsync(DialectNames.SimpleJwt, provider);

        // sliderule also needs org_name, which this account does not have.
        var answer = await _world.SendAsync(HttpMethod.Put, $"/admin/providers/{provider}",
            body: new { dialect = "sliderule", token_url = SimUrl("api/org_token/") });

        answer.ShouldNameBadFields("dialect");
        answer.Text.ShouldContain(account.Name);
        answer.Text.ShouldContain("org_name");
        (await _world.AdminAsync(HttpMethod.Get, $"/admin/providers/{provider}"))["dialect"]!.GetValue<string>().ShouldBe("simplejwt");
    }

    [Fact]
    public async Task Changing_how_accounts_log_in_drops_their_tokens_and_the_next_fetch_logs_in_again()
    {
        var provider = await _world.NewProviderAsync(DialectNames.SimpleJwt, "scope-changed");
        var account = await _world.AccountAsync(DialectNames.SimpleJwt, provider);
        var key = await _world.ConsumerAsync(account.Name);
        var before = await _world.Broker.TokenAsync(account.Name, key);

        await _world.AdminAsync(HttpMethod.Put, $"/admin/providers/{provider}",
            new { dialect = "simplejwt", token_url = SimUrl("api/v3/accounts/token/obtain/"), scope = "read" });

        (await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}"))["access_expires_at"].ShouldBeNull();
        var after = await _world.Broker.TokenAsync(account.Name, key);
        after.ShouldNotBe(before);
        _world.Simulator.Logins(account.Username).ShouldBe(2);
    }

    [Fact]
    public async Task Put_that_changes_only_lifetimes_keeps_the_accounts_tokens()
    {
        var provider = await _world.NewProviderAsync(DialectNames.SimpleJwt, "lifetimes-changed");
        var account = await _world.AccountAsync(DialectNames.SimpleJwt, provider);
        var key = await _world.ConsumerAsync(account.Name);
        var before = await _world.Broker.TokenAsync(account.Name, key);

        await _world.AdminAsync(HttpMethod.Put, $"/admin/providers/{provider}",
            new { dialect = "simplejwt", token_url = SimUrl(), default_access_lifetime_seconds = 600 });

        (await _world.Broker.TokenAsync(account.Name, key)).ShouldBe(before);
        _world.Simulator.Logins(account.Username).ShouldBe(1);
    }

    [Fact]
    public async Task Delete_is_refused_while_an_account_uses_the_provider()
    {
        var provider = await _world.NewProviderAsync(DialectNames.Keycloak, "keycloak-in-use");
        var account = await _world.AccountAsync(DialectNames.Keycloak, provider);

        var refused = await _world.SendAsync(HttpMethod.Delete, $"/admin/providers/{provider}");

        refused.ShouldBeProblem(HttpStatusCode.Conflict, "conflict");
        refused.Text.ShouldContain(account.Name);
        await _world.AdminAsync(HttpMethod.Get, $"/admin/providers/{provider}");

        await _world.AdminAsync(HttpMethod.Delete, $"/admin/accounts/{account.Name}", expect: HttpStatusCode.NoContent);
        await _world.AdminAsync(HttpMethod.Delete, $"/admin/providers/{provider}", expect: HttpStatusCode.NoContent);
        (await _world.SendAsync(HttpMethod.Get, $"/admin/providers/{provider}")).Status.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Every_change_is_audited_with_the_fields_that_changed_and_never_a_value()
    {
        _world.Secrets.Add("audited-secret");
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers",
            new { name = "idp-audited", dialect = "oauth2-password", token_url = SimUrl("o/token/"), client_id = "a" }, HttpStatusCode.Created);
        await _world.AdminAsync(HttpMethod.Put, "/admin/providers/idp-audited",
            new { dialect = "oauth2-password", token_url = SimUrl("o/token/"), client_id = "a", client_secret = "audited-secret", scope = "read" });
        await _world.AdminAsync(HttpMethod.Delete, "/admin/providers/idp-audited", expect: HttpStatusCode.NoContent);

        var rows = (await AuditRows.ReadAsync(_world, "provider.%")).Where(r => r.Provider == "idp-audited").ToList();
        rows.Select(r => r.Action).ShouldBe(["provider.created", "provider.updated", "provider.deleted"]);
        rows.ShouldAllBe(r => r.Client == "bootstrap-admin");
        rows[1].Detail.ShouldBe("changed: client_secret, scope");
        rows.ShouldAllBe(r => r.Detail == null || !r.Detail.Contains("audited-secret"));
    }
}
