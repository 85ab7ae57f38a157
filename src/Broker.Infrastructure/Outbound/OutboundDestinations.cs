using System.Net;
using System.Net.Sockets;
using Broker.Infrastructure.Upstream;
using Microsoft.Extensions.Options;

namespace Broker.Infrastructure.Outbound;

/// <summary>
/// Where the broker may send credentials (docs/providers.md, "Where secrets go"). An admin key chooses a provider's
/// URLs, so without this rule it could aim stored passwords at the cloud's metadata service or at any internal
/// service. Only public addresses are called unless <see cref="UpstreamOptions.AllowedNetworks"/> allows more; the
/// check is made on the addresses actually connected to (<see cref="ConnectAsync"/>, the upstream handler's
/// ConnectCallback), so a name that resolves differently at call time than at admin time gains nothing.
/// </summary>
public sealed class OutboundDestinations(IOptions<UpstreamOptions> options)
{
    private readonly IReadOnlyList<IPNetwork> _allowed = options.Value.ParsedAllowedNetworks();
    private readonly UpstreamOptions _options = options.Value;

    private static readonly (IPNetwork Network, string Kind)[] RefusedV4 =
    [
        (IPNetwork.Parse("0.0.0.0/8"), "unspecified"),
        (IPNetwork.Parse("10.0.0.0/8"), "private"),
        (IPNetwork.Parse("100.64.0.0/10"), "shared (CGNAT)"),
        (IPNetwork.Parse("127.0.0.0/8"), "loopback"),
        (IPNetwork.Parse("169.254.0.0/16"), "link-local"),
        (IPNetwork.Parse("172.16.0.0/12"), "private"),
        (IPNetwork.Parse("192.0.0.0/24"), "reserved"),
        (IPNetwork.Parse("192.0.2.0/24"), "reserved"), // documentation
        (IPNetwork.Parse("192.168.0.0/16"), "private"),
        (IPNetwork.Parse("198.18.0.0/15"), "reserved"), // benchmarking
        (IPNetwork.Parse("198.51.100.0/24"), "reserved"), // documentation
        (IPNetwork.Parse("203.0.113.0/24"), "reserved"), // documentation
        (IPNetwork.Parse("255.255.255.255/32"), "broadcast"),
        (IPNetwork.Parse("224.0.0.0/4"), "multicast"),
        (IPNetwork.Parse("240.0.0.0/4"), "reserved"),
    ];

    private static readonly (IPNetwork Network, string Kind)[] RefusedV6 =
    [
        (IPNetwork.Parse("::/128"), "unspecified"),
        (IPNetwork.Parse("::1/128"), "loopback"),
        (IPNetwork.Parse("::/96"), "reserved"), // IPv4-compatible, deprecated
        (IPNetwork.Parse("100::/64"), "reserved"), // discard-only
        (IPNetwork.Parse("64:ff9b:1::/48"), "reserved"), // local-use NAT64
        (IPNetwork.Parse("2001:db8::/32"), "reserved"), // documentation
        (IPNetwork.Parse("fe80::/10"), "link-local"),
        (IPNetwork.Parse("fec0::/10"), "site-local"),
        (IPNetwork.Parse("fc00::/7"), "unique-local"),
        (IPNetwork.Parse("ff00::/8"), "multicast"),
    ];

    private static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    private static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");

    /// <summary>
    /// The kind of network (loopback, private, ...) that makes <paramref name="address"/> one the broker refuses by
    /// default, or null for a public address. IPv6 forms that carry an IPv4 address (mapped, NAT64, 6to4) are
    /// judged by that IPv4 address: they reach it.
    /// </summary>
    public static string? RefusedNetwork(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (EmbeddedIPv4(address) is { } inner) return RefusedNetwork(inner);
        var networks = address.AddressFamily == AddressFamily.InterNetwork ? RefusedV4 : RefusedV6;
        foreach (var (network, kind) in networks)
        {
            if (network.Contains(address)) return kind;
        }
        return null;
    }

    /// <summary>Whether the broker may connect to this address: it is public, or in an allowed network.</summary>
    public bool Allows(IPAddress address) =>
        RefusedNetwork(address) is null ||
        _allowed.Any(n => n.Contains(address) || (EmbeddedIPv4(address) is { } inner && n.Contains(inner)));

    /// <summary>
    /// What is wrong with a provider URL that can be known without resolving it (plain http not allowed for the
    /// provider; a host that is an IP address, or localhost, in a refused network), or null. Checked when an admin
    /// writes the URL; everything is checked again at call time.
    /// </summary>
    public string? UrlProblem(Uri url, string? provider)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.Scheme == Uri.UriSchemeHttp && !_options.AllowsPlainHttp(provider))
            return "must be https: plain http is allowed only for the providers named in Broker:Upstream:AllowPlainHttp.";
        return AddressProblem(url);
    }

    /// <summary>The address part of <see cref="UrlProblem"/>: a host that is an IP address, or localhost, in a refused network.</summary>
    public string? AddressProblem(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        IPAddress[] addresses = url.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6
            ? [IPAddress.Parse(Unbracketed(url.Host))]
            : IsLocalhost(url.IdnHost) ? [IPAddress.Loopback, IPAddress.IPv6Loopback] : [];
        if (addresses.Length == 0 || addresses.Any(Allows)) return null;
        return $"points at {addresses[0]} ({RefusedNetwork(addresses[0])}), a network the broker may not call; " +
               "allow it in Broker:Upstream:AllowedNetworks if the broker should.";
    }

    /// <summary>Plain http is checked again before each call: the configuration may have changed since the admin wrote the URL.</summary>
    public static string? PlainHttpProblem(Uri url, string? provider, UpstreamOptions options) =>
        url.Scheme == Uri.UriSchemeHttp && !options.AllowsPlainHttp(provider)
            ? $"the URL of provider {provider} is plain http, which Broker:Upstream:AllowPlainHttp does not allow for it"
            : null;

    /// <summary>
    /// The upstream handler's ConnectCallback: resolves the host itself and connects only to an allowed address,
    /// trying them in the resolver's order.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var endpoint = context.DnsEndPoint;
        Exception? last = null;
        foreach (var address in await ResolveAsync(endpoint.Host, ct))
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, endpoint.Port), ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw last!;
    }

    /// <summary>
    /// The addresses of <paramref name="host"/> the broker may connect to. Throws
    /// <see cref="OutboundDestinationRefusedException"/> when it resolves to none.
    /// </summary>
    public async Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        var all = IPAddress.TryParse(Unbracketed(host), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        if (all.Length == 0) throw new SocketException((int)SocketError.HostNotFound);
        var allowed = all.Where(Allows).ToList();
        if (allowed.Count > 0) return allowed;
        var first = all[0];
        throw new OutboundDestinationRefusedException(
            $"the upstream's address {first} is in a network the broker may not call ({RefusedNetwork(first)}); " +
            "allow it in Broker:Upstream:AllowedNetworks if the broker should call it");
    }

    /// <summary>The IPv4 address an IPv6 address stands for: IPv4-mapped, NAT64 (64:ff9b::/96) or 6to4 (2002::/16).</summary>
    private static IPAddress? EmbeddedIPv4(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return null;
        if (address.IsIPv4MappedToIPv6) return address.MapToIPv4();
        var bytes = address.GetAddressBytes();
        if (Nat64.Contains(address)) return new IPAddress(bytes.AsSpan(12, 4));
        if (SixToFour.Contains(address)) return new IPAddress(bytes.AsSpan(2, 4));
        return null;
    }

    /// <summary>Names that resolve to loopback by rule (RFC 6761 §6.3), whatever the resolver would say.</summary>
    private static bool IsLocalhost(string host)
    {
        var name = host.TrimEnd('.');
        return name.Equals("localhost", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase);
    }

    private static string Unbracketed(string host) => host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
}
