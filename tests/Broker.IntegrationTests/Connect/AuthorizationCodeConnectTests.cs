using System.Buffers.Text;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Broker.IntegrationTests.Support;
using Broker.Simulator;

namespace Broker.IntegrationTests.Connect;

/// <summary>
/// Connecting an oauth2-authorization-code account (RFC 6749 §4.1, PKCE S256): the simulator's consent page is driven
/// with HttpClient (the browser version is <see cref="AuthorizationCodeBrowserTests"/>); the broker's callback
/// exchanges the code, and from then on the account lives on its refresh token, never a login.
/// </summary>
public sealed class AuthorizationCodeConnectTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;
    private string _provider = null!;

    public async Task InitializeAsync()
    {
        _world = await ConnectWorld.StartAsync();
        _provider = await ConnectWorld.ProviderAsync(_world);
    }

    public async Task DisposeAsync() => await _world.DisposeAsync();

    private AuthorizationCodes Codes => _world.Simulator.AuthorizationCodes;

    [Fact]
    public async Task Connected_account_is_served_and_refreshed_and_never_logged_in()
    {
        var (account, user, password) = await ConnectWorld.AccountAsync(_world, _provider, "drive");
        var key = await _world.ConsumerAsync(account);

        var (status, body, _) = await _world.Broker.FetchAsync(account, key);
        status.ShouldBe(HttpStatusCode.Conflict);
        body["type"]!.GetValue<string>().ShouldEndWith("/account-not-connected");
        (await ConnectWorld.AccountJsonAsync(_world, account))["last_error"]!.GetValue<string>().ShouldStartWith("not connected");

        var authorizationUrl = await ConnectWorld.BeginAsync(_world, account);
        ConnectWorld.Query(authorizationUrl, "response_type").ShouldBe("code");
        ConnectWorld.Query(authorizationUrl, "client_id").ShouldBe(ConnectWorld.ClientId);
        ConnectWorld.Query(authorizationUrl, "redirect_uri").ShouldBe(ConnectWorld.CallbackUrl(_world));
        ConnectWorld.Query(authorizationUrl, "code_challenge_method").ShouldBe("S256");
        ConnectWorld.Query(authorizationUrl, "access_type").ShouldBe("offline");
        ConnectWorld.Query(authorizationUrl, "scope").ShouldBe("read");
        Base64Url.DecodeFromChars(ConnectWorld.Query(authorizationUrl, "state")).Length.ShouldBeGreaterThanOrEqualTo(32);

        var location = await ConnectWorld.ConsentAsync(authorizationUrl, user, password, approve: true);
        location.ShouldStartWith(ConnectWorld.CallbackUrl(_world));
        var (callbackStatus, page, response) = await ConnectWorld.CallbackAsync(_world, location);
        callbackStatus.ShouldBe(HttpStatusCode.OK, page);
        response.Content.Headers.ContentType!.ToString().ShouldBe("text/html; charset=utf-8");
        response.Headers.GetValues("Content-Security-Policy").Single().ShouldNotContain("script-src");
        page.ShouldContain($"The account {account} is connected");
        Codes.CodesExchanged.ShouldBe(1);

        // The verifier went to the token endpoint, and only its S256 challenge to the browser.
        var verifier = Codes.Verifiers.ShouldHaveSingleItem();
        verifier.Length.ShouldBeInRange(43, 128);
        ConnectWorld.Query(authorizationUrl, "code_challenge").ShouldBe(Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))));
        authorizationUrl.ShouldNotContain(verifier);

        var first = await _world.Broker.TokenAsync(account, key);
        _world.Simulator.IsValidAccessToken(first).ShouldBeTrue();

        _world.Clock.Advance(SimulatorState.DefaultAccessLifetime + TimeSpan.FromMinutes(1));
        var second = await _world.Broker.TokenAsync(account, key);
        second.ShouldNotBe(first);
        _world.Simulator.IsValidAccessToken(second).ShouldBeTrue();
        _world.Simulator.Refreshes(user).ShouldBe(1);
        _world.Simulator.Logins(user).ShouldBe(0);
        _world.Simulator.TotalLogins.ShouldBe(0);

        var connected = await ConnectWorld.AccountJsonAsync(_world, account);
        connected["state"]!.GetValue<string>().ShouldBe("active");
        connected["last_error"].ShouldBeNull();

        // Nothing that completes a connection or is a token is in the logs, the audit trail, the page or admin answers.
        var dump = await DatabaseDump.AllTablesAsync(_world.ConnectionString);
        dump.ShouldContain("/oauth/callback"); // the attempt is there, its state hashed and its verifier encrypted
        var audit = await ConnectWorld.AuditRowsAsync(_world);
        audit.ShouldContain(row => row.Contains("\"account.connected\""));
        audit.ShouldContain(row => row.Contains("\"account.connect_started\""));
        var secrets = new[] { verifier, first, second, ConnectWorld.Query(authorizationUrl, "state")! }.Concat(Codes.IssuedCodes).ToList();
        foreach (var secret in secrets)
        {
            _world.Logs.Lines.ShouldNotContain(line => line.Contains(secret), secret);
            audit.ShouldNotContain(row => row.Contains(secret));
            dump.ShouldNotContain(secret);
            page.ShouldNotContain(secret);
            _world.AdminResponses.ShouldNotContain(body => body.Contains(secret) && !body.Contains("authorization_url"));
        }
    }

    [Fact]
    public async Task Denied_consent_leaves_the_account_unconnected_and_says_so()
    {
        var (account, user, password) = await ConnectWorld.AccountAsync(_world, _provider, "denied");
        var location = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, account), user, password, approve: false);
        var (status, page, _) = await ConnectWorld.CallbackAsync(_world, location);
        status.ShouldBe(HttpStatusCode.BadRequest);
        page.ShouldContain("Access denied");
        page.ShouldNotContain("The user denied the request"); // the upstream's words are in the audit row only
        page.ShouldContain(account);
        Codes.CodesExchanged.ShouldBe(0);
        (await _world.Broker.FetchAsync(account, await _world.ConsumerAsync(account))).Status.ShouldBe(HttpStatusCode.Conflict);
        (await ConnectWorld.AuditRowsAsync(_world)).ShouldContain(row => row.Contains("\"account.connect_failed\"") && row.Contains("\"denied\""));
    }

    [Fact]
    public async Task Upstream_error_text_never_reaches_the_page_which_keeps_its_own_policy()
    {
        var (account, user, password) = await ConnectWorld.AccountAsync(_world, _provider, "hostile");
        var location = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, account), user, password, approve: false);
        const string phishing = "Your account is locked, call +1 555 0100";
        var hostile = ConnectWorld.CallbackUrl(_world) + "?error=" + Uri.EscapeDataString(phishing) + "&error_description=" +
                      Uri.EscapeDataString("<script>alert(1)</script> " + phishing) + "&state=" + Uri.EscapeDataString(ConnectWorld.Query(location, "state")!);
        var (status, page, response) = await ConnectWorld.CallbackAsync(_world, hostile);
        status.ShouldBe(HttpStatusCode.BadRequest);
        page.ShouldContain($"The upstream did not grant access, so the account {account} was not connected.");
        page.ShouldNotContain("script");
        page.ShouldNotContain("555 0100");
        response.Headers.GetValues("Content-Security-Policy").ShouldHaveSingleItem()
            .ShouldBe("default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
        (await ConnectWorld.AuditRowsAsync(_world)).ShouldContain(row => row.Contains("\"upstream_error\"") && row.Contains("555 0100"));
    }

    [Fact]
    public async Task A_newer_link_or_any_change_of_the_account_or_provider_ends_the_older_link()
    {
        var (account, user, password) = await ConnectWorld.AccountAsync(_world, _provider, "rebound");
        var older = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, account), user, password, approve: true);
        var newer = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, account), user, password, approve: true);
        var superseded = await ConnectWorld.CallbackAsync(_world, older);
        superseded.Status.ShouldBe(HttpStatusCode.BadRequest);
        superseded.Page.ShouldContain("This link is no longer valid");

        await _world.AdminAsync(HttpMethod.Patch, $"/admin/accounts/{account}", new { scope = "read write" });
        var afterScope = await ConnectWorld.CallbackAsync(_world, newer);
        afterScope.Status.ShouldBe(HttpStatusCode.BadRequest);
        afterScope.Page.ShouldContain("This link is no longer valid");

        var beforeProviderChange = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, account), user, password, approve: true);
        await using (var connection = new Npgsql.NpgsqlConnection(_world.ConnectionString))
        {
            await connection.OpenAsync();
            // What a PUT of the provider does to its row (without the test knowing the client secret it was made with).
            await using var update = new Npgsql.NpgsqlCommand("UPDATE providers SET authorization_parameters = '{\"access_type\": \"online\"}', updated_at = now()", connection);
            await update.ExecuteNonQueryAsync();
        }
        (await ConnectWorld.CallbackAsync(_world, beforeProviderChange)).Page.ShouldContain("This link is no longer valid");
        Codes.CodesExchanged.ShouldBe(0);
        (await ConnectWorld.AuditRowsAsync(_world)).Count(row => row.Contains("\"account_changed\"")).ShouldBe(2);

        var fresh = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, account), user, password, approve: true);
        (await ConnectWorld.CallbackAsync(_world, fresh)).Status.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_verifier_that_cannot_be_decrypted_ends_on_the_page_with_an_audit_row()
    {
        var (account, user, password) = await ConnectWorld.AccountAsync(_world, _provider, "unreadable");
        var location = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, account), user, password, approve: true);
        await using (var connection = new Npgsql.NpgsqlConnection(_world.ConnectionString))
        {
            await connection.OpenAsync();
            // As after a key was lost: a payload no key of the ring opens.
            await using var update = new Npgsql.NpgsqlCommand("UPDATE connect_attempts SET verifier_encrypted = 'CfDJ8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'", connection);
            await update.ExecuteNonQueryAsync();
        }
        var (status, page, response) = await ConnectWorld.CallbackAsync(_world, location);
        status.ShouldBe(HttpStatusCode.BadRequest);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        page.ShouldContain("This link is no longer valid");
        Codes.CodesExchanged.ShouldBe(0);
        (await ConnectWorld.AuditRowsAsync(_world)).ShouldContain(row => row.Contains("\"account.connect_failed\"") && row.Contains("\"verifier_unreadable\""));
    }

    [Fact]
    public async Task The_callbacks_iss_must_be_the_providers_issuer_and_must_come_when_the_provider_requires_it()
    {
        const string issuer = "https://as.example";
        var provider = await ConnectWorld.ProviderAsync(_world, "sim-authcode-iss", issuer, issuerRequired: true);
        var (account, user, password) = await ConnectWorld.AccountAsync(_world, provider, "iss");

        var mixedUp = await CallbackWithAsync("https://other-as.example"); // an answer from another authorization server
        var missing = await CallbackWithAsync(null);
        foreach (var (status, page) in new[] { mixedUp, missing })
        {
            status.ShouldNotBe(HttpStatusCode.OK, page);
            page.ShouldNotContain("other-as.example"); // fixed text on the broker's page, whatever the callback said
        }
        Codes.CodesExchanged.ShouldBe(0, "nothing of a refused answer is believed: its code is not exchanged");
        (await Admin.AuditRows.ReadAsync(_world, "account.connect_failed")).Select(r => r.Outcome).ShouldBe(["issuer_mismatch", "issuer_missing"]);

        var (okStatus, okPage) = await CallbackWithAsync(issuer);
        okStatus.ShouldBe(HttpStatusCode.OK, okPage);
        Codes.CodesExchanged.ShouldBe(1);

        async Task<(HttpStatusCode, string)> CallbackWithAsync(string? iss)
        {
            var location = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, account), user, password, approve: true);
            if (iss is not null) location += "&iss=" + Uri.EscapeDataString(iss);
            var (status, page, _) = await ConnectWorld.CallbackAsync(_world, location);
            return (status, page);
        }
    }

    [Fact]
    public async Task An_iss_is_ignored_for_a_provider_without_an_issuer_and_issuer_settings_are_validated()
    {
        var (account, user, password) = await ConnectWorld.AccountAsync(_world, _provider, "no-issuer");
        var location = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, account), user, password, approve: true);
        (await ConnectWorld.CallbackAsync(_world, location + "&iss=https%3A%2F%2Fanything.example")).Status.ShouldBe(HttpStatusCode.OK);

        var tokenUrl = new Uri(_world.SimulatorHost.BaseAddress, "o/token/").ToString();
        foreach (var (body, field) in new (object, string)[]
        {
            (new { name = "iss-bad-1", dialect = "oauth2-authorization-code", token_url = tokenUrl, authorization_url = tokenUrl, issuer_required = true }, "issuer"),
            (new { name = "iss-bad-2", dialect = "oauth2-authorization-code", token_url = tokenUrl, authorization_url = tokenUrl, issuer = "https://as.example/?x=1" }, "issuer"),
            (new { name = "iss-bad-3", dialect = "oauth2-password", token_url = tokenUrl, issuer = "https://as.example" }, "issuer"),
        })
        {
            var problem = await _world.AdminAsync(HttpMethod.Post, "/admin/providers", body, HttpStatusCode.BadRequest);
            problem["errors"]![field].ShouldNotBeNull(problem.ToJsonString());
        }
    }

    [Fact]
    public async Task A_state_works_once()
    {
        var (account, user, password) = await ConnectWorld.AccountAsync(_world, _provider, "replay");
        var location = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, account), user, password, approve: true);
        (await ConnectWorld.CallbackAsync(_world, location)).Status.ShouldBe(HttpStatusCode.OK);
        var (status, page, _) = await ConnectWorld.CallbackAsync(_world, location);
        status.ShouldBe(HttpStatusCode.BadRequest);
        page.ShouldContain("This link is no longer valid");
        Codes.CodesExchanged.ShouldBe(1);
    }

    [Fact]
    public async Task An_expired_state_is_refused_and_nothing_is_exchanged()
    {
        var (account, user, password) = await ConnectWorld.AccountAsync(_world, _provider, "late");
        var location = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, account), user, password, approve: true);
        _world.Clock.Advance(TimeSpan.FromMinutes(11)); // Broker:Connect:StateLifetime is 10 minutes
        var (status, page, _) = await ConnectWorld.CallbackAsync(_world, location);
        status.ShouldBe(HttpStatusCode.BadRequest);
        page.ShouldContain("This link is no longer valid");
        Codes.CodesExchanged.ShouldBe(0);
        (await ConnectWorld.AccountJsonAsync(_world, account))["access_expires_at"].ShouldBeNull();
    }

    [Fact]
    public async Task A_tampered_state_is_refused_and_does_not_spend_the_real_one()
    {
        var (account, user, password) = await ConnectWorld.AccountAsync(_world, _provider, "tampered");
        var location = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, account), user, password, approve: true);
        var state = ConnectWorld.Query(location, "state")!;
        var tampered = location.Replace("state=" + state, "state=" + (state[0] == 'A' ? 'B' : 'A') + state[1..], StringComparison.Ordinal);
        var (status, page, _) = await ConnectWorld.CallbackAsync(_world, tampered);
        status.ShouldBe(HttpStatusCode.BadRequest);
        page.ShouldContain("This link is no longer valid");
        (await ConnectWorld.CallbackAsync(_world, location.Replace("state=" + state, "x=1", StringComparison.Ordinal))).Status.ShouldBe(HttpStatusCode.BadRequest);
        Codes.CodesExchanged.ShouldBe(0);
        (await ConnectWorld.AccountJsonAsync(_world, account))["access_expires_at"].ShouldBeNull();

        (await ConnectWorld.CallbackAsync(_world, location)).Status.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_state_of_a_deleted_or_moved_account_connects_nothing()
    {
        var (deleted, user, password) = await ConnectWorld.AccountAsync(_world, _provider, "deleted");
        var deletedLocation = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, deleted), user, password, approve: true);
        await _world.AdminAsync(HttpMethod.Delete, $"/admin/accounts/{deleted}", expect: HttpStatusCode.NoContent);
        var gone = await ConnectWorld.CallbackAsync(_world, deletedLocation);
        gone.Status.ShouldBe(HttpStatusCode.BadRequest);
        gone.Page.ShouldContain("This link is no longer valid");

        var other = await ConnectWorld.ProviderAsync(_world, "sim-authcode-2");
        var (moved, movedUser, movedPassword) = await ConnectWorld.AccountAsync(_world, _provider, "moved");
        var movedLocation = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, moved), movedUser, movedPassword, approve: true);
        await _world.AdminAsync(HttpMethod.Patch, $"/admin/accounts/{moved}", new { provider = other });
        var changed = await ConnectWorld.CallbackAsync(_world, movedLocation);
        changed.Status.ShouldBe(HttpStatusCode.BadRequest);
        changed.Page.ShouldContain("This link is no longer valid");

        Codes.CodesExchanged.ShouldBe(0);
        (await ConnectWorld.AccountJsonAsync(_world, moved))["access_expires_at"].ShouldBeNull();
    }

    [Fact]
    public async Task A_refused_refresh_needs_a_person_and_never_a_login()
    {
        _world.Simulator.RefreshLifetime = TimeSpan.FromMinutes(3);
        var (account, user, password) = await ConnectWorld.AccountAsync(_world, _provider, "lapsed");
        var key = await _world.ConsumerAsync(account);
        var location = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, account), user, password, approve: true);
        (await ConnectWorld.CallbackAsync(_world, location)).Status.ShouldBe(HttpStatusCode.OK);

        // The simulator does not say when its refresh token expires: the broker tries it and is refused.
        _world.Clock.Advance(TimeSpan.FromMinutes(6));
        var (status, body, _) = await _world.Broker.FetchAsync(account, key);
        status.ShouldBe(HttpStatusCode.Conflict, body.ToJsonString());
        _world.Simulator.RejectedRefreshes(user).ShouldBe(1);
        _world.Simulator.TotalLogins.ShouldBe(0);
        var after = await ConnectWorld.AccountJsonAsync(_world, account);
        after["state"]!.GetValue<string>().ShouldBe("needs_attention");
        after["attention_reason"]!.GetValue<string>().ShouldBe("reconnect_required");
        after["last_error"]!.GetValue<string>().ShouldContain("refused the refresh token");

        // Connecting again is the way back.
        var again = await ConnectWorld.ConsentAsync(await ConnectWorld.BeginAsync(_world, account), user, password, approve: true);
        (await ConnectWorld.CallbackAsync(_world, again)).Status.ShouldBe(HttpStatusCode.OK);
        _world.Simulator.IsValidAccessToken(await _world.Broker.TokenAsync(account, key)).ShouldBeTrue();
    }

    [Fact]
    public async Task Connect_is_refused_for_other_dialects_and_bad_provider_settings()
    {
        var other = await _world.AccountAsync("oauth2-password");
        var refused = await _world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{other.Name}/connect", expect: HttpStatusCode.Conflict);
        refused["title"]!.GetValue<string>().ShouldContain("oauth2-authorization-code");

        var tokenUrl = new Uri(_world.SimulatorHost.BaseAddress, "o/token/").ToString();
        var invalid = await _world.AdminAsync(HttpMethod.Post, "/admin/providers", new
        {
            name = "bad-authcode", dialect = "oauth2-authorization-code", token_url = tokenUrl, client_id = "x",
            authorization_parameters = new Dictionary<string, string> { ["state"] = "mine", ["code_challenge_method"] = "plain" },
        }, HttpStatusCode.BadRequest);
        invalid["errors"]!["authorization_url"].ShouldNotBeNull();
        invalid["errors"]!["authorization_parameters"]!.ToJsonString().ShouldContain("state");

        var inside = await _world.AdminAsync(HttpMethod.Post, "/admin/providers", new
        {
            name = "inside-authcode", dialect = "oauth2-authorization-code", token_url = tokenUrl, client_id = "x",
            authorization_url = "http://10.1.2.3/authorize",
        }, HttpStatusCode.BadRequest);
        inside["errors"]!["authorization_url"].ShouldNotBeNull();
    }

    [Fact]
    public async Task The_callback_is_under_the_per_address_limit()
    {
        await using var world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Broker:RateLimits:PerAddressPerSecond"] = "1",
            ["Broker:RateLimits:PerAddressBurst"] = "3",
        });
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 10; i++) statuses.Add((await ConnectWorld.CallbackAsync(world, $"/oauth/callback?state=guess-{i}&code=x")).Status);
        statuses.ShouldContain(HttpStatusCode.BadRequest);
        statuses.ShouldContain(HttpStatusCode.TooManyRequests);
    }

    [Fact]
    public async Task Connect_needs_a_public_base_url()
    {
        await using var world = await BrokerWorld.StartAsync();
        var provider = await ConnectWorld.ProviderAsync(world);
        var (account, _, _) = await ConnectWorld.AccountAsync(world, provider, "nowhere");
        var refused = await world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{account}/connect", expect: HttpStatusCode.Conflict);
        refused["title"]!.GetValue<string>().ShouldContain("Broker:PublicBaseUrl");
    }
}
