namespace Broker.Api.Auth;

/// <summary>
/// Whether clients may authenticate with a client certificate (section <c>Broker:ClientCertificates</c>;
/// docs/configuration.md). The CAs and the identities bound to clients are admin resources (<c>/admin/issuers</c> of
/// kind x509, <c>/admin/clients/{name}/identities</c>), not settings.
/// </summary>
public sealed class ClientCertificateOptions
{
    public const string Section = "Broker:ClientCertificates";

    /// <summary>
    /// Where Kestrel terminates TLS: its HTTPS endpoints ask for a client certificate (optional: a client without one
    /// is still served with its API key or token) and leave checking it to the broker, against the x509 issuers.
    /// </summary>
    public bool Enabled { get; set; }

    /// <summary>
    /// Behind a TLS-terminating proxy: the request header in which it forwards the client's certificate (URL-encoded
    /// PEM, as nginx's <c>$ssl_client_escaped_cert</c>; Envoy's <c>x-forwarded-client-cert</c>; base64 DER). Believed
    /// only on connections from <c>Broker:ForwardedHeaders</c>' known proxies and networks, and removed from every other
    /// request. Unset: no header is believed.
    /// </summary>
    public string? ForwardedHeader { get; set; }

    public static bool IsHeaderName(string header) =>
        header.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') && !header.Equals("Authorization", StringComparison.OrdinalIgnoreCase);
}
