using System.Net;
using System.Text.Json.Nodes;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Admin;

/// <summary>
/// docs/providers.md, "Where secrets go": an admin key must not be enough to read a stored secret by pointing it
/// somewhere else. Every way an admin can change where a secret is sent is tried against a recording upstream; the
/// recorder never receives a stored password, client secret or refresh token, even after the admin's test and
/// consumers' fetches. The same change with the secrets entered again works.
/// </summary>
public sealed class SecretExfiltrationTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;
    private RecordingUpstream _origin = null!; // the provider's real address: relays to the simulator
    private RecordingUpstream _attacker = null!; // where the admin points the secrets: answers 401
    private readonly List<string> _stored = []; // every secret and refresh token the broker holds before the change
    private string _key = null!;

    private readonly string _providerSecret = $"provider-cs-{Guid.NewGuid():N}";
    private readonly string _alicePassword = $"alice-pw-{Guid.NewGuid():N}";
    private readonly string _bobPassword = $"bob-pw-{Guid.NewGuid():N}";
    private readonly string _bobSecret = $"bob-cs-{Guid.NewGuid():N}";

    public async Task InitializeAsync()
    {
        _world = await BrokerWorld.StartAsync();
        _origin = await RecordingUpstream.StartAsync(relayTo: _world.SimulatorHost.BaseAddress);
        _attacker = await RecordingUpstream.StartAsync();
        _world.Secrets.AddRange([_providerSecret, _alicePassword, _bobPassword, _bobSecret]);
        _stored.AddRange([_providerSecret, _alicePassword, _bobPassword, _bobSecret]);

        _world.Simulator.AddClient("shared-client", _providerSecret);
        _world.Simulator.AddClient("bob-client", _bobSecret);
        _world.Simulator.AddUser("alice", _alicePassword);
        _world.Simulator.AddUser("bob", _bobPassword);
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers", ProviderBody(name: "idp"), HttpStatusCode.Created);
        // alice uses the provider's client; bob has a client (and secret) of his own.
        await _world.AdminAsync(HttpMethod.Post, "/admin/accounts",
            new { name = "alice", provider = "idp", username = "alice", password = _alicePassword }, HttpStatusCode.Created);
        await _world.AdminAsync(HttpMethod.Post, "/admin/accounts",
            new { name = "bob", provider = "idp", username = "bob", password = _bobPassword, client_id = "bob-client", client_secret = _bobSecret },
            HttpStatusCode.Created);
        _key = await _world.ConsumerAsync("alice", "bob");
        await _world.Broker.TokenAsync("alice", _key);
        await _world.Broker.TokenAsync("bob", _key);

        var refreshTokens = _origin.Answers.SelectMany(a => JsonNode.Parse(a)!.AsObject())
            .Where(p => p.Key.Contains("refresh", StringComparison.Ordinal) && p.Value is JsonValue)
            .Select(p => p.Value!.ToString()).ToList();
        refreshTokens.Count.ShouldBe(2, "each login stored a refresh token");
        _stored.AddRange(refreshTokens);
        _origin.Clear();
    }

    public async Task DisposeAsync()
    {
        await _origin.DisposeAsync();
        await _attacker.DisposeAsync();
        await _world.DisposeAsync();
    }

    private object ProviderBody(string? name = null, string dialect = "oauth2-password", string? tokenUrl = null, string? refreshUrl = null,
        string clientAuthentication = "basic", string? clientSecret = null) => new
    {
        name, dialect, token_url = tokenUrl ?? _origin.Url("o/token/").ToString(), refresh_url = refreshUrl, client_id = "shared-client",
        client_secret = clientSecret ?? (name is null ? null : _providerSecret), client_authentication = clientAuthentication,
    };

    private Task<JsonObject> Account(string name) => _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{name}");

    public static TheoryData<string> DestinationFields => ["token_url", "refresh_url", "dialect", "client_authentication"];

    private object ChangedProvider(string field) => field switch
    {
        "token_url" => ProviderBody(tokenUrl: _attacker.Url("o/token/").ToString()),
        "refresh_url" => ProviderBody(refreshUrl: _attacker.Url("o/token/").ToString()),
        // The URLs stay; what is sent, and how, changes.
        "dialect" => ProviderBody(dialect: "simplejwt"),
        _ => ProviderBody(clientAuthentication: "body"),
    };

    [Theory]
    [MemberData(nameof(DestinationFields))]
    public async Task Provider_change_of_destination_clears_the_secrets_and_nothing_stored_is_ever_sent(string field)
    {
        var before = _world.Simulator.TotalLogins;

        var provider = await _world.AdminAsync(HttpMethod.Put, "/admin/providers/idp", ChangedProvider(field));

        provider["has_client_secret"]!.GetValue<bool>().ShouldBeFalse();
        foreach (var name in new[] { "alice", "bob" })
        {
            var account = await Account(name);
            account["has_password"]!.GetValue<bool>().ShouldBeFalse();
            account["has_client_secret"]!.GetValue<bool>().ShouldBeFalse();
            account["state"]!.GetValue<string>().ShouldBe("needs_attention");
            account["access_expires_at"].ShouldBeNull();
            account["refresh_expires_at"].ShouldBeNull();
            account["last_error"]!.GetValue<string>().ShouldBe($"secrets cleared: provider idp's {field} changed; re-enter password" +
                                                                (name == "bob" ? ", client_secret" : ""));
        }
        var audit = (await AuditRows.ReadAsync(_world, "provider.updated")).ShouldHaveSingleItem();
        audit.Detail.ShouldBe($"changed: {field}; cleared: client_secret; 2 account(s) lost client_secret, password; 2 account(s) started afresh");

        await TryEverythingAsync("alice", "bob");

        _attacker.Requests.ShouldBeEmpty();
        _origin.Requests.ShouldBeEmpty();
        _attacker.Received(_stored).ShouldBeEmpty();
        _origin.Received(_stored).ShouldBeEmpty();
        _world.Simulator.TotalLogins.ShouldBe(before);
    }

    [Fact]
    public async Task Provider_change_of_destination_with_the_secret_entered_again_sends_only_the_new_secrets_there()
    {
        await using var moved = await RecordingUpstream.StartAsync(relayTo: _world.SimulatorHost.BaseAddress);
        var newProviderSecret = $"provider-cs-new-{Guid.NewGuid():N}";
        var newAlicePassword = $"alice-pw-new-{Guid.NewGuid():N}";
        _world.Secrets.AddRange([newProviderSecret, newAlicePassword]);
        _world.Simulator.AddClient("shared-client", newProviderSecret);
        _world.Simulator.SetPassword("alice", newAlicePassword);

        var provider = await _world.AdminAsync(HttpMethod.Put, "/admin/providers/idp",
            ProviderBody(tokenUrl: moved.Url("o/token/").ToString(), clientSecret: newProviderSecret));
        provider["has_client_secret"]!.GetValue<bool>().ShouldBeTrue();
        (await AuditRows.ReadAsync(_world, "provider.updated")).ShouldHaveSingleItem().Detail
            .ShouldBe("changed: token_url, client_secret; 2 account(s) lost client_secret, password; 2 account(s) started afresh");
        // An account's own secrets cannot come with a provider request: they are entered on the account.
        var alice = await _world.AdminAsync(HttpMethod.Patch, "/admin/accounts/alice", new { password = newAlicePassword });
        alice["state"]!.GetValue<string>().ShouldBe("active");
        alice["has_password"]!.GetValue<bool>().ShouldBeTrue();

        await _world.Broker.TokenAsync("alice", _key);
        var test = await _world.AdminAsync(HttpMethod.Post, "/admin/accounts/alice/test");
        test["logged_in"]!.GetValue<bool>().ShouldBeTrue();

        moved.Received([newProviderSecret, newAlicePassword]).ShouldBe([newProviderSecret, newAlicePassword]);
        moved.Received(_stored).ShouldBeEmpty();
        _origin.Requests.ShouldBeEmpty();
        (await _world.Broker.FetchAsync("bob", _key)).Status.ShouldBe(HttpStatusCode.Conflict); // bob's secrets were not entered again
    }

    public static TheoryData<string> Methods => ["PUT", "PATCH"];

    [Theory]
    [MemberData(nameof(Methods))]
    public async Task Moving_an_account_to_another_provider_clears_its_secrets_and_nothing_stored_is_ever_sent(string method)
    {
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers",
            new { name = "elsewhere", dialect = "oauth2-password", token_url = _attacker.Url("o/token/").ToString(), client_id = "shared-client" },
            HttpStatusCode.Created);

        var moved = method == "PUT"
            ? await _world.AdminAsync(HttpMethod.Put, "/admin/accounts/bob", new { provider = "elsewhere", username = "bob", client_id = "bob-client" })
            : await _world.AdminAsync(HttpMethod.Patch, "/admin/accounts/bob", new { provider = "elsewhere" });

        moved["provider"]!.GetValue<string>().ShouldBe("elsewhere");
        moved["has_password"]!.GetValue<bool>().ShouldBeFalse();
        moved["has_client_secret"]!.GetValue<bool>().ShouldBeFalse();
        moved["state"]!.GetValue<string>().ShouldBe("needs_attention");
        moved["last_error"]!.GetValue<string>().ShouldBe("secrets cleared: moved from provider idp to elsewhere; re-enter password, client_secret");
        (await Account("bob"))["state"]!.GetValue<string>().ShouldBe("needs_attention");
        (await AuditRows.ReadAsync(_world, "account.updated")).ShouldHaveSingleItem().Detail
            .ShouldBe("changed: provider; cleared: password, client_secret");

        await TryEverythingAsync("bob");

        _attacker.Requests.ShouldBeEmpty();
        _attacker.Received(_stored).ShouldBeEmpty();
        _origin.Requests.ShouldBeEmpty();
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public async Task Moving_an_account_with_its_secrets_entered_again_sends_only_the_new_secrets_there(string method)
    {
        await using var elsewhere = await RecordingUpstream.StartAsync(relayTo: _world.SimulatorHost.BaseAddress);
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers",
            new { name = "elsewhere", dialect = "oauth2-password", token_url = elsewhere.Url("o/token/").ToString(), client_id = "shared-client" },
            HttpStatusCode.Created);
        var newPassword = $"bob-pw-new-{Guid.NewGuid():N}";
        var newSecret = $"bob-cs-new-{Guid.NewGuid():N}";
        _world.Secrets.AddRange([newPassword, newSecret]);
        _world.Simulator.SetPassword("bob", newPassword);
        _world.Simulator.AddClient("bob-client", newSecret);

        var moved = method == "PUT"
            ? await _world.AdminAsync(HttpMethod.Put, "/admin/accounts/bob",
                new { provider = "elsewhere", username = "bob", password = newPassword, client_id = "bob-client", client_secret = newSecret })
            : await _world.AdminAsync(HttpMethod.Patch, "/admin/accounts/bob", new { provider = "elsewhere", password = newPassword, client_secret = newSecret });

        moved["has_password"]!.GetValue<bool>().ShouldBeTrue();
        moved["state"]!.GetValue<string>().ShouldBe("active");
        moved["last_error"].ShouldBeNull();
        (await AuditRows.ReadAsync(_world, "account.updated")).ShouldHaveSingleItem().Detail.ShouldBe("changed: provider, password, client_secret");
        await _world.Broker.TokenAsync("bob", _key);

        elsewhere.Received([newPassword, newSecret]).ShouldBe([newPassword, newSecret]);
        elsewhere.Received(_stored).ShouldBeEmpty();
    }

    [Fact]
    public async Task Moving_with_only_the_password_entered_again_clears_the_client_secret_left_out()
    {
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers",
            new { name = "elsewhere", dialect = "oauth2-password", token_url = _attacker.Url("o/token/").ToString(), client_id = "shared-client" },
            HttpStatusCode.Created);
        var newPassword = $"bob-pw-new-{Guid.NewGuid():N}";
        _world.Secrets.Add(newPassword);

        var moved = await _world.AdminAsync(HttpMethod.Patch, "/admin/accounts/bob", new { provider = "elsewhere", password = newPassword });

        moved["has_password"]!.GetValue<bool>().ShouldBeTrue();
        moved["has_client_secret"]!.GetValue<bool>().ShouldBeFalse();
        moved["state"]!.GetValue<string>().ShouldBe("needs_attention");
        moved["last_error"]!.GetValue<string>().ShouldBe("secrets cleared: moved from provider idp to elsewhere; re-enter client_secret");
        // The dialect needs no client secret, so the admin's test may try: with what was entered for this provider only.
        await _world.AdminAsync(HttpMethod.Post, "/admin/accounts/bob/test");
        _attacker.Received([newPassword]).ShouldBe([newPassword]);
        _attacker.Received(_stored).ShouldBeEmpty();
    }

    /// <summary>What an admin and consumers can do to make the broker call upstream: the admin's test, a fetch.</summary>
    private async Task TryEverythingAsync(params string[] accounts)
    {
        foreach (var account in accounts)
        {
            var test = await _world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{account}/test");
            test["logged_in"]!.GetValue<bool>().ShouldBeFalse();
            test["failure"]!.GetValue<string>().ShouldBe("needs_attention");
            test["state"]!.GetValue<string>().ShouldBe("needs_attention");
            test["last_error"]!.GetValue<string>().ShouldStartWith("secrets cleared:");

            var (status, body, _) = await _world.Broker.FetchAsync(account, _key);
            status.ShouldBe(HttpStatusCode.Conflict, body.ToJsonString());
            body["type"]!.GetValue<string>().ShouldBe("https://broker.dev/errors/account-credentials-missing");
            body["detail"]!.GetValue<string>().ShouldNotContain("secrets cleared"); // why is for admins (last_error)
        }
    }
}
