using System.Net;
using System.Text.Json.Nodes;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Admin;

/// <summary>
/// A typo in a provider's token_url is found where it is made: <c>POST /admin/providers/{name}/check</c> says so
/// without sending a secret, and a consumer's fetch fails with its own problem type that names the URL for admins.
/// The provider points at a recording upstream that relays to the simulator, so what the upstream received is known.
/// </summary>
public sealed class ProviderCheckTests(SharedWorld shared) : IClassFixture<SharedWorld>, IAsyncLifetime
{
    private readonly BrokerWorld _world = shared.World;
    private RecordingUpstream _upstream = null!;
    private readonly string _clientSecret = $"cs-{Guid.NewGuid():N}";
    private readonly string _suffix = Guid.NewGuid().ToString("N")[..8];

    public async Task InitializeAsync()
    {
        _upstream = await RecordingUpstream.StartAsync(relayTo: _world.SimulatorHost.BaseAddress);
        _world.Secrets.Add(_clientSecret);
        _world.Simulator.AddClient($"client-{_suffix}", _clientSecret);
    }

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private async Task<string> ProviderAsync(string path)
    {
        var name = $"check-{_suffix}-{path.Length}";
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers", new
        {
            name, dialect = "oauth2-client-credentials", token_url = _upstream.Url(path).ToString(),
            client_id = $"client-{_suffix}", client_secret = _clientSecret,
        }, HttpStatusCode.Created);
        return name;
    }

    [Fact]
    public async Task Check_of_a_typo_in_token_url_says_so_and_sends_no_secret()
    {
        var provider = await ProviderAsync("o/tokn/");
        _upstream.Clear();

        var check = await _world.AdminAsync(HttpMethod.Post, $"/admin/providers/{provider}/check");

        check["ok"]!.GetValue<bool>().ShouldBeFalse();
        var tokenUrl = check["checks"]!.AsArray().Single(c => c!["field"]!.GetValue<string>() == "token_url")!;
        tokenUrl["status"]!.GetValue<int>().ShouldBe(404);
        tokenUrl["reached"]!.GetValue<bool>().ShouldBeTrue();
        tokenUrl["message"]!.GetValue<string>().ShouldBe("token_url answered 404: check the path.");
        _upstream.Requests.ShouldNotBeEmpty("the check called the upstream");
        _upstream.Received([_clientSecret, $"client-{_suffix}"]).ShouldBeEmpty();
        _upstream.Requests.ShouldAllBe(r => !r.Contains("Authorization:", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Check_of_a_right_token_url_is_ok()
    {
        var provider = await ProviderAsync("o/token/");

        var check = await _world.AdminAsync(HttpMethod.Post, $"/admin/providers/{provider}/check");

        check["ok"]!.GetValue<bool>().ShouldBeTrue(check.ToJsonString());
        var tokenUrl = check["checks"]!.AsArray().Single()!;
        tokenUrl["content_type"]!.GetValue<string>().ShouldBe("application/json");
    }

    [Fact]
    public async Task Consumer_of_a_provider_with_a_typo_in_token_url_gets_upstream_endpoint_not_found()
    {
        var provider = await ProviderAsync("o/tokn/");
        var account = $"typo-{_suffix}";
        await _world.AdminAsync(HttpMethod.Post, "/admin/accounts", new { name = account, provider }, HttpStatusCode.Created);
        var key = await _world.ConsumerAsync(account);

        using var response = await _world.Broker.SendAsync(_world.Broker.Request(HttpMethod.Get, $"/v1/accounts/{account}/token", key));

        response.StatusCode.ShouldBe(HttpStatusCode.BadGateway);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        problem["type"]!.GetValue<string>().ShouldBe("https://broker.dev/errors/upstream-endpoint-not-found");
        var stored = await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account}");
        stored["last_error"]!.GetValue<string>().ShouldContain(_upstream.Url("o/tokn/").ToString());
        stored["last_error"]!.GetValue<string>().ShouldStartWith("endpoint_not_found:");
    }

    [Fact]
    public async Task Partial_login_credentials_are_a_400_naming_the_missing_field_and_none_is_a_refresh_only_account()
    {
        var provider = await _world.ProviderAsync("sliderule");

        var partial = await _world.AdminAsync(HttpMethod.Post, "/admin/accounts",
            new { name = $"partial-{_suffix}", provider, username = "someone", password = "pw" }, HttpStatusCode.BadRequest);
        partial["errors"]!["org_name"]!.AsArray().Single()!.GetValue<string>().ShouldBe("is required for the sliderule dialect.");
        partial["errors"]!.AsObject().Count.ShouldBe(1);

        var refreshOnly = await _world.AdminAsync(HttpMethod.Post, "/admin/accounts", new { name = $"refresh-only-{_suffix}", provider }, HttpStatusCode.Created);
        refreshOnly["can_log_in"]!.GetValue<bool>().ShouldBeFalse();
    }
}
