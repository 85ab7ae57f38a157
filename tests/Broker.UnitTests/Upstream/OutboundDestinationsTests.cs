using System.ComponentModel.DataAnnotations;
using System.Net;
using Broker.Domain;
using Broker.Infrastructure.Outbound;
using Broker.Infrastructure.Upstream;
using Microsoft.Extensions.Options;

namespace Broker.UnitTests.Upstream;

/// <summary>Which addresses and URLs the broker may send credentials to (docs/providers.md, "Where secrets go").</summary>
public class OutboundDestinationsTests
{
    private static OutboundDestinations Destinations(string[]? allowed = null, string[]? plainHttp = null) =>
        new(Options.Create(new UpstreamOptions { AllowedNetworks = [.. allowed ?? []], AllowPlainHttp = [.. plainHttp ?? []] }));

    [Theory]
    [InlineData("127.0.0.1", "loopback")]
    [InlineData("127.255.0.9", "loopback")]
    [InlineData("::1", "loopback")]
    [InlineData("169.254.169.254", "link-local")]
    [InlineData("169.254.0.1", "link-local")]
    [InlineData("fe80::1", "link-local")]
    [InlineData("febf:ffff::1", "link-local")]
    [InlineData("10.1.2.3", "private")]
    [InlineData("172.16.0.1", "private")]
    [InlineData("172.31.255.254", "private")]
    [InlineData("192.168.1.1", "private")]
    [InlineData("100.64.0.1", "shared (CGNAT)")]
    [InlineData("100.127.255.255", "shared (CGNAT)")]
    [InlineData("fc00::1", "unique-local")]
    [InlineData("fd00:ec2::254", "unique-local")]
    [InlineData("0.0.0.0", "unspecified")]
    [InlineData("0.1.2.3", "unspecified")]
    [InlineData("::", "unspecified")]
    [InlineData("224.0.0.1", "multicast")]
    [InlineData("239.255.255.250", "multicast")]
    [InlineData("ff02::1", "multicast")]
    [InlineData("255.255.255.255", "broadcast")]
    [InlineData("240.0.0.1", "reserved")]
    [InlineData("192.0.2.2", "reserved")]
    [InlineData("2001:db8::1", "reserved")]
    [InlineData("::ffff:127.0.0.1", "loopback")]
    [InlineData("::ffff:169.254.169.254", "link-local")]
    [InlineData("::ffff:10.0.0.1", "private")]
    [InlineData("::ffff:192.168.0.1", "private")]
    [InlineData("::ffff:100.64.1.1", "shared (CGNAT)")]
    [InlineData("::ffff:0.0.0.0", "unspecified")]
    [InlineData("::ffff:224.0.0.1", "multicast")]
    [InlineData("::ffff:255.255.255.255", "broadcast")]
    [InlineData("64:ff9b::a9fe:a9fe", "link-local")] // NAT64 of 169.254.169.254
    [InlineData("2002:7f00:1::", "loopback")] // 6to4 of 127.0.0.1
    [InlineData("::127.0.0.1", "reserved")] // IPv4-compatible
    public void Internal_addresses_are_refused_by_kind(string address, string kind)
    {
        OutboundDestinations.RefusedNetwork(IPAddress.Parse(address)).ShouldBe(kind);
        Destinations().Allows(IPAddress.Parse(address)).ShouldBeFalse();
    }

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("93.184.216.34")]
    [InlineData("172.32.0.1")] // just past 172.16.0.0/12
    [InlineData("100.128.0.1")] // just past 100.64.0.0/10
    [InlineData("2606:4700:4700::1111")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("64:ff9b::808:808")] // NAT64 of 8.8.8.8
    public void Public_addresses_are_allowed(string address)
    {
        OutboundDestinations.RefusedNetwork(IPAddress.Parse(address)).ShouldBeNull();
        Destinations().Allows(IPAddress.Parse(address)).ShouldBeTrue();
    }

    [Theory]
    [InlineData("127.0.0.0/8", "127.0.0.1", true)]
    [InlineData("127.0.0.0/8", "::ffff:127.0.0.1", true)] // the mapped form reaches the same address
    [InlineData("127.0.0.0/8", "::1", false)]
    [InlineData("::1/128", "::1", true)]
    [InlineData("10.20.0.0/16", "10.20.3.4", true)]
    [InlineData("10.20.0.0/16", "10.21.3.4", false)]
    [InlineData("10.20.0.0/16", "169.254.169.254", false)]
    [InlineData("fd00::/8", "fd12::1", true)]
    [InlineData("169.254.169.254/32", "169.254.169.254", true)]
    public void Allowed_networks_open_exactly_their_addresses(string network, string address, bool allowed)
    {
        Destinations([network]).Allows(IPAddress.Parse(address)).ShouldBe(allowed);
    }

    [Theory]
    [InlineData("http://idp.example/token", "must be https")]
    [InlineData("https://127.0.0.1:8443/token", "127.0.0.1 (loopback)")]
    [InlineData("https://169.254.169.254/latest/meta-data/", "169.254.169.254 (link-local)")]
    [InlineData("https://10.0.0.5/token", "10.0.0.5 (private)")]
    [InlineData("https://[::1]:8443/token", "::1 (loopback)")]
    [InlineData("https://[::ffff:169.254.169.254]/", "(link-local)")]
    [InlineData("https://[fe80::1]/token", "(link-local)")]
    [InlineData("https://0.0.0.0/token", "(unspecified)")]
    [InlineData("https://0x7f.1/token", "127.0.0.1 (loopback)")] // the URL parser's own reading of the host
    [InlineData("https://localhost:8443/token", "(loopback)")]
    [InlineData("https://api.LOCALHOST./token", "(loopback)")]
    public void Urls_known_to_be_refused_are_refused_at_admin_time(string url, string reason)
    {
        var problem = Destinations().UrlProblem(new Uri(url), "idp");

        problem.ShouldNotBeNull().ShouldContain(reason);
        if (!url.StartsWith("http:", StringComparison.Ordinal)) problem.ShouldContain("Broker:Upstream:AllowedNetworks");
    }

    [Theory]
    [InlineData("https://idp.example/token")] // resolved only at call time
    [InlineData("https://8.8.8.8/token")]
    public void Urls_not_known_to_be_refused_pass_at_admin_time(string url)
    {
        Destinations().UrlProblem(new Uri(url), "idp").ShouldBeNull();
    }

    [Fact]
    public void Plain_http_and_loopback_pass_when_configuration_allows_them()
    {
        var loopback = new Uri("http://127.0.0.1:9090/o/token/");

        Destinations(["127.0.0.0/8"], ["idp"]).UrlProblem(loopback, "idp").ShouldBeNull();
        Destinations(["127.0.0.0/8"], ["*"]).UrlProblem(loopback, "other").ShouldBeNull();
        Destinations(["127.0.0.0/8"], ["idp"]).UrlProblem(loopback, "other").ShouldNotBeNull().ShouldContain("https");
        Destinations(null, ["*"]).UrlProblem(loopback, "idp").ShouldNotBeNull().ShouldContain("loopback");
        Destinations(["::1/128"], ["*"]).UrlProblem(new Uri("http://localhost:9090/"), "idp").ShouldBeNull(); // either loopback will do
    }

    [Fact]
    public void Plain_http_is_checked_again_at_call_time_against_the_current_configuration()
    {
        var url = new Uri("http://idp.example/token");

        OutboundDestinations.PlainHttpProblem(url, "idp", new UpstreamOptions()).ShouldNotBeNull().ShouldContain("idp");
        OutboundDestinations.PlainHttpProblem(url, "idp", new UpstreamOptions { AllowPlainHttp = ["idp"] }).ShouldBeNull();
        OutboundDestinations.PlainHttpProblem(new Uri("https://idp.example/token"), "idp", new UpstreamOptions()).ShouldBeNull();
    }

    [Fact]
    public async Task Name_that_resolves_to_internal_addresses_is_refused_when_connecting()
    {
        // The machine's own name: on a test machine it resolves to its loopback, private or reserved addresses.
        var host = Dns.GetHostName();
        var addresses = await Dns.GetHostAddressesAsync(host);
        var usable = addresses.Where(a => OutboundDestinations.RefusedNetwork(a) is null).ToList();

        if (usable.Count == 0)
        {
            var refused = await Should.ThrowAsync<OutboundDestinationRefusedException>(() => Destinations().ResolveAsync(host, CancellationToken.None));
            refused.Message.ShouldContain("Broker:Upstream:AllowedNetworks");
            refused.Message.ShouldContain(addresses[0].ToString());
        }
        else
        {
            (await Destinations().ResolveAsync(host, CancellationToken.None)).ShouldBe(usable); // only its public ones
        }
    }

    [Fact]
    public async Task Name_that_resolves_to_an_allowed_network_resolves_to_its_allowed_addresses_only()
    {
        var allowed = await Destinations(["127.0.0.0/8"]).ResolveAsync("localhost", CancellationToken.None);

        allowed.ShouldNotBeEmpty();
        allowed.ShouldAllBe(a => IPNetwork.Parse("127.0.0.0/8").Contains(a));
    }

    [Fact]
    public async Task Connect_callback_never_opens_a_connection_to_a_refused_address()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var http = new HttpClient(new SocketsHttpHandler { ConnectCallback = Destinations().ConnectAsync, UseProxy = false });

        var failure = await Should.ThrowAsync<HttpRequestException>(() => http.GetAsync($"http://127.0.0.1:{port}/"));

        failure.InnerException.ShouldBeOfType<OutboundDestinationRefusedException>();
        listener.Pending().ShouldBeFalse();
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.0/8")]
    [InlineData("::1", "::1/128")]
    public async Task Connect_callback_connects_to_an_allowed_address(string address, string network)
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Parse(address), 0);
        listener.Start();
        var endpoint = (IPEndPoint)listener.LocalEndpoint;
        var served = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync();
            await socket.ReceiveAsync(new byte[4096]);
            await socket.SendAsync("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray());
        });
        using var http = new HttpClient(new SocketsHttpHandler { ConnectCallback = Destinations([network]).ConnectAsync, UseProxy = false });

        using var response = await http.GetAsync(new UriBuilder("http", endpoint.Address.ToString(), endpoint.Port).Uri);

        response.StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await served;
    }

    [Theory]
    [InlineData("10.0.0.0/8", true)]
    [InlineData("::1/128", true)]
    [InlineData("", true)] // blank entries are ignored (compose passes an empty one unless .env sets it)
    [InlineData("10.0.0.1/8", false)] // bits past the prefix
    [InlineData("10.0.0.0", false)]
    [InlineData("localhost", false)]
    public void Allowed_networks_must_be_cidrs(string network, bool valid)
    {
        var options = new UpstreamOptions { AllowedNetworks = [network] };

        Validator.TryValidateObject(options, new ValidationContext(options), null, validateAllProperties: true).ShouldBe(valid);
    }

    [Fact]
    public async Task Refused_destination_is_neither_retried_nor_counted_by_the_circuit_breaker()
    {
        var resilience = new UpstreamResilience(TimeProvider.System, Options.Create(new UpstreamOptions { LoginRetries = 2, BreakerMinimumThroughput = 2 }));
        var calls = 0;

        for (var i = 0; i < 10; i++)
        {
            var outcome = await resilience.LogInAsync(Guid.Empty, "provider", _ =>
            {
                calls++;
                return Task.FromResult<UpstreamOutcome>(new UpstreamOutcome.DestinationRefused("refused"));
            }, CancellationToken.None);
            outcome.ShouldBeOfType<UpstreamOutcome.DestinationRefused>();
        }

        calls.ShouldBe(10);
    }
}
