using System.Net;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Broker.Api.Pipeline;
using Broker.Infrastructure.Identity;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Primitives;

namespace Broker.Api.Auth;

/// <summary>
/// A client certificate that a TLS-terminating proxy forwarded in a header (<see cref="ClientCertificateOptions.ForwardedHeader"/>).
/// The header is believed only on a connection from a known proxy (<c>Broker:ForwardedHeaders</c>): on any other, it is
/// removed before anything reads it, so a caller cannot name a certificate it does not hold.
/// </summary>
public static partial class ForwardedClientCertificate
{
    /// <summary>URL-encoding triples a certificate's size at most.</summary>
    private const int MaxHeaderLength = 3 * 2 * ClientCertificateIdentity.MaxCertificateBytes;
    private const string PemBegin = "-----BEGIN CERTIFICATE-----";
    private const string PemEnd = "-----END CERTIFICATE-----";

    /// <summary>
    /// Before the forwarded headers are applied (which replace the connection's address with the caller's): removes the
    /// header from every request whose connection is not from a known proxy.
    /// </summary>
    public static void UseForwardedClientCertificates(this IApplicationBuilder app, string header, ForwardedHeadersOptions? proxies) =>
        app.Use((context, next) =>
        {
            if (context.Request.Headers.ContainsKey(header) && (proxies is null || !IsKnownProxy(proxies, context.Connection.RemoteIpAddress)))
                context.Request.Headers.Remove(header);
            return next(context);
        });

    /// <summary>As ForwardedHeadersMiddleware decides it: a known proxy's address, or one in a known network (IPv4 mapped into IPv6 too).</summary>
    public static bool IsKnownProxy(ForwardedHeadersOptions proxies, IPAddress? address)
    {
        if (address is null) return false;
        if (address.IsIPv4MappedToIPv6 && IsKnownProxy(proxies, address.MapToIPv4())) return true;
        return proxies.KnownProxies.Contains(address) || proxies.KnownIPNetworks.Any(n => n.Contains(address));
    }

    /// <summary>
    /// The certificate a request's header holds, in DER: URL-encoded PEM (nginx, AWS ALB, Envoy's <c>Cert="…"</c>) or base64
    /// DER (Traefik, HAProxy). Null with <paramref name="problem"/> when the header is there but holds no single
    /// certificate; null without one when there is no header (or it is empty, as nginx sends it for a client without one).
    /// </summary>
    public static byte[]? Read(StringValues values, out string? problem)
    {
        problem = null;
        if (values.Count == 0 || values.Count == 1 && string.IsNullOrEmpty(values[0])) return null;
        if (values.Count > 1) return Fail("more than one forwarded certificate header", out problem);
        var value = values[0]!;
        if (value.Length > MaxHeaderLength) return Fail("the forwarded certificate header is too long", out problem);

        var text = value.Contains('%', StringComparison.Ordinal) ? Uri.UnescapeDataString(value) : value;
        var begin = text.IndexOf(PemBegin, StringComparison.Ordinal);
        if (begin < 0)
            return text.Length % 4 == 0 && Base64Der().IsMatch(text)
                ? Convert.FromBase64String(text)
                : Fail("the forwarded certificate header holds no certificate", out problem);
        if (text.IndexOf(PemBegin, begin + PemBegin.Length, StringComparison.Ordinal) >= 0)
            return Fail("the forwarded certificate header holds more than one certificate", out problem);
        // Cut at the end line: in Envoy's header a quote and further fields follow it, where PEM wants a line end.
        var end = text.IndexOf(PemEnd, begin, StringComparison.Ordinal);
        var block = end < 0 ? ReadOnlySpan<char>.Empty : text.AsSpan(begin, end + PemEnd.Length - begin);
        if (!PemEncoding.TryFind(block, out var fields))
            return Fail("the forwarded certificate header holds no readable PEM certificate", out problem);
        return Convert.FromBase64String(block[fields.Base64Data].ToString());
    }

    private static byte[]? Fail(string why, out string? problem)
    {
        problem = why;
        return null;
    }

    [GeneratedRegex("^[A-Za-z0-9+/]+={0,2}$")]
    private static partial Regex Base64Der();
}
