using System.Net;
using Broker.Infrastructure.Outbound;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Admin;

/// <summary>
/// docs/providers.md, "Where secrets go": by default the broker sends credentials only over https to public
/// addresses. Refused destinations are a 400 at admin time when they can be known then, and a distinct 502 when
/// only the resolved address tells; configuration (Broker:Upstream:AllowedNetworks, AllowPlainHttp) opens them.
/// </summary>
public sealed class UpstreamDestinationTests
{
    /// <summary>A world with the broker's defaults: no allowed networks, no plain http.</summary>
    private static Task<BrokerWorld> DefaultsWorldAsync() => BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
    {
        ["Broker:Upstream:AllowedNetworks:0"] = null,
        ["Broker:Upstream:AllowedNetworks:1"] = null,
        ["Broker:Upstream:AllowPlainHttp:0"] = null,
    });

    /// <summary>The machine's own name: resolved only at call time, to addresses the broker refuses by default.</summary>
    private static async Task<string> InternalHostNameAsync()
    {
        var host = Dns.GetHostName();
        var addresses = await Dns.GetHostAddressesAsync(host);
        addresses.ShouldContain(IPAddress.Loopback, $"{host} should resolve to loopback on a test machine");
        addresses.ShouldAllBe(a => OutboundDestinations.RefusedNetwork(a) != null, $"{host} should resolve to internal addresses only");
        return host;
    }

    [Theory]
    [InlineData("http://idp.example/o/token/", "must be https")]
    [InlineData("https://127.0.0.1:8443/o/token/", "127.0.0.1 (loopback)")]
    [InlineData("https://169.254.169.254/latest/meta-data/iam/", "169.254.169.254 (link-local)")]
    [InlineData("https://10.1.2.3/o/token/", "10.1.2.3 (private)")]
    [InlineData("https://192.168.0.10/o/token/", "(private)")]
    [InlineData("https://0.0.0.0/o/token/", "(unspecified)")]
    [InlineData("https://[::1]/o/token/", "::1 (loopback)")]
    [InlineData("https://[::ffff:169.254.169.254]/latest/", "(link-local)")]
    [InlineData("https://[fd00:ec2::254]/latest/", "(unique-local)")]
    [InlineData("https://localhost:8443/o/token/", "(loopback)")]
    public async Task Refused_urls_are_a_400_on_the_url_field_by_default(string url, string reason)
    {
        await using var world = await DefaultsWorldAsync();

        var created = await world.SendAsync(HttpMethod.Post, "/admin/providers", body: new { name = "idp", dialect = "oauth2-client-credentials", token_url = url });
        var refresh = await world.SendAsync(HttpMethod.Post, "/admin/providers",
            body: new { name = "idp", dialect = "oauth2-password", token_url = "https://idp.example/o/token/", refresh_url = url });

        created.ShouldNameBadFields("token_url").Text.ShouldContain(reason);
        refresh.ShouldNameBadFields("refresh_url").Text.ShouldContain(reason);
        (await world.SendAsync(HttpMethod.Get, "/admin/providers/idp")).Status.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Put_to_a_refused_url_is_a_400_and_changes_nothing()
    {
        await using var world = await DefaultsWorldAsync();
        await world.AdminAsync(HttpMethod.Post, "/admin/providers",
            new { name = "idp", dialect = "simplejwt", token_url = "https://idp.example/api/token/" }, HttpStatusCode.Created);

        (await world.SendAsync(HttpMethod.Put, "/admin/providers/idp",
                body: new { dialect = "simplejwt", token_url = "https://169.254.169.254/latest/meta-data/" }))
            .ShouldNameBadFields("token_url");

        (await world.AdminAsync(HttpMethod.Get, "/admin/providers/idp"))["token_url"]!.GetValue<string>().ShouldBe("https://idp.example/api/token/");
    }

    [Fact]
    public async Task Name_that_resolves_to_an_internal_address_is_refused_at_call_time_with_a_distinct_problem()
    {
        await using var world = await DefaultsWorldAsync();
        var host = await InternalHostNameAsync();
        // https: the address is refused before any TLS handshake, so the simulator's plain port does for the test.
        var tokenUrl = $"https://{host}:{world.SimulatorHost.BaseAddress.Port}/api/v3/accounts/token/obtain/";
        var key = await AliceInsideAsync(world, tokenUrl);

        // More than enough calls to open the circuit breaker, were they counted as failures.
        for (var i = 0; i < 6; i++)
        {
            var (status, body, _) = await world.Broker.FetchAsync("alice", key);
            status.ShouldBe(HttpStatusCode.BadGateway, body.ToJsonString());
            body["type"]!.GetValue<string>().ShouldBe("https://broker.dev/errors/upstream-destination-refused");
            body["detail"]!.GetValue<string>().ShouldNotContain("127.0.0.1"); // consumers get no address; admins do
        }
        var lastError = (await world.AdminAsync(HttpMethod.Get, "/admin/accounts/alice"))["last_error"]!.GetValue<string>();
        lastError.ShouldContain("the upstream's address 127.0.0.1 is in a network the broker may not call (loopback)");
        lastError.ShouldContain("Broker:Upstream:AllowedNetworks");
        var test = await world.AdminAsync(HttpMethod.Post, "/admin/accounts/alice/test");

        test["failure"]!.GetValue<string>().ShouldBe("upstream_destination_refused");
        test["state"]!.GetValue<string>().ShouldBe("active"); // not the credentials' fault
        test["last_error"]!.GetValue<string>().ShouldStartWith("destination_refused: the upstream's address 127.0.0.1");
        world.Simulator.TotalRequests.ShouldBe(0);
        var audit = await AuditRows.ReadAsync(world, "token.obtained");
        audit.Count.ShouldBe(7); // one call each, never retried
        audit.ShouldAllBe(r => r.Outcome == "destination_refused" && r.Detail!.Contains("Broker:Upstream:AllowedNetworks"));
    }

    [Fact]
    public async Task Allowed_network_lets_the_broker_reach_a_name_that_resolves_into_it()
    {
        await using var world = await BrokerWorld.StartAsync(); // the tests' worlds allow loopback and plain http
        var host = await InternalHostNameAsync();
        var tokenUrl = $"http://{host}:{world.SimulatorHost.BaseAddress.Port}/api/v3/accounts/token/obtain/";
        var key = await AliceInsideAsync(world, tokenUrl);

        await world.Broker.TokenAsync("alice", key);

        world.Simulator.Logins("alice").ShouldBe(1);
    }

    [Fact]
    public async Task Plain_http_is_checked_again_at_call_time_once_the_configuration_no_longer_allows_it()
    {
        await using var world = await BrokerWorld.StartAsync();
        var account = await world.AccountAsync("simplejwt");
        var key = await world.ConsumerAsync(account.Name);
        await world.Broker.TokenAsync(account.Name, key);
        await world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{account.Name}/revoke");
        var logins = world.Simulator.TotalLogins;

        world.Settings.Remove("Broker:Upstream:AllowPlainHttp:0");
        await world.RestartBrokersAsync();

        var (status, body, _) = await world.Broker.FetchAsync(account.Name, key);
        status.ShouldBe(HttpStatusCode.BadGateway, body.ToJsonString());
        body["type"]!.GetValue<string>().ShouldBe("https://broker.dev/errors/upstream-destination-refused");
        (await world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account.Name}"))["last_error"]!.GetValue<string>()
            .ShouldContain("Broker:Upstream:AllowPlainHttp");
        world.Simulator.TotalLogins.ShouldBe(logins);
        // ...and at admin time: the provider's own URL is now refused.
        (await world.SendAsync(HttpMethod.Put, "/admin/providers/sim-simplejwt",
                body: new { dialect = "simplejwt", token_url = new Uri(world.SimulatorHost.BaseAddress, "api/v3/accounts/token/obtain/").ToString() }))
            .ShouldNameBadFields("token_url");
    }

    /// <summary>Provider "inside" at <paramref name="tokenUrl"/>, its account "alice" and a consumer key for it.</summary>
    private static async Task<string> AliceInsideAsync(BrokerWorld world, string tokenUrl)
    {
        await world.AdminAsync(HttpMethod.Post, "/admin/providers", new { name = "inside", dialect = "simplejwt", token_url = tokenUrl }, HttpStatusCode.Created);
        world.Simulator.AddUser("alice", "alice-password");
        world.Secrets.Add("alice-password");
        await world.AdminAsync(HttpMethod.Post, "/admin/accounts",
            new { name = "alice", provider = "inside", username = "alice", password = "alice-password" }, HttpStatusCode.Created);
        return await world.ConsumerAsync("alice");
    }
}
