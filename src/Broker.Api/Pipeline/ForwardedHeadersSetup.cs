using System.Net;
using Broker.Api.Auth;
using Microsoft.AspNetCore.HttpOverrides;

namespace Broker.Api.Pipeline;

/// <summary>
/// <c>X-Forwarded-For</c> is honoured only from the proxies and networks configured under
/// <c>Broker:ForwardedHeaders</c>, so the address the per-address limit and the audit trail use is the caller's, and
/// a caller cannot pick its own by sending the header. Nothing configured: the header is ignored. The same proxies
/// are the only ones whose forwarded client certificate is believed (<see cref="ForwardedClientCertificate"/>).
/// </summary>
public static class ForwardedHeadersSetup
{
    private const string Section = ForwardedHeadersSettings.Section;

    public static IApplicationBuilder UseConfiguredForwardedHeaders(this WebApplication app)
    {
        var proxies = KnownProxies(app.Configuration);
        // Before the forwarded headers replace the connection's address with the caller's: the proxy is the connection.
        if (app.Configuration[$"{ClientCertificateOptions.Section}:{nameof(ClientCertificateOptions.ForwardedHeader)}"] is { Length: > 0 } header)
            app.UseForwardedClientCertificates(header, proxies);
        return proxies is null ? app : app.UseForwardedHeaders(proxies);
    }

    /// <summary>The proxies and networks configured, as the forwarded headers middleware takes them; null when none are.</summary>
    public static ForwardedHeadersOptions? KnownProxies(IConfiguration configuration)
    {
        var settings = configuration.GetSection(Section).Get<ForwardedHeadersSettings>() ?? new();
        if (settings.KnownProxies.Length == 0 && settings.KnownNetworks.Length == 0) return null;

        var options = new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor, ForwardLimit = settings.ForwardLimit };
        options.KnownProxies.Clear();
        options.KnownIPNetworks.Clear();
        foreach (var proxy in settings.KnownProxies)
            options.KnownProxies.Add(IPAddress.TryParse(proxy, out var address) ? address
                : throw new InvalidOperationException($"{Section}:KnownProxies: '{proxy}' is not an IP address."));
        foreach (var network in settings.KnownNetworks)
            options.KnownIPNetworks.Add(System.Net.IPNetwork.TryParse(network, out var parsed) ? parsed
                : throw new InvalidOperationException($"{Section}:KnownNetworks: '{network}' is not a network in CIDR form (10.0.0.0/8)."));
        return options;
    }
}

public sealed class ForwardedHeadersSettings
{
    public const string Section = "Broker:ForwardedHeaders";

    /// <summary>Addresses of the reverse proxies whose X-Forwarded-For is believed.</summary>
    public string[] KnownProxies { get; set; } = [];

    /// <summary>Networks (CIDR) of such proxies.</summary>
    public string[] KnownNetworks { get; set; } = [];

    /// <summary>How many proxies in a chain are believed (the addresses they appended, from the right).</summary>
    public int ForwardLimit { get; set; } = 1;
}
