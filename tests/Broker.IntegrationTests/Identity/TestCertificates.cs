using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Broker.IntegrationTests.Identity;

/// <summary>
/// A certificate authority made in the test (as SPIRE or an internal CA would be), and the certificates it issues:
/// client certificates with a URI SAN, and the server certificate of a broker on HTTPS.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");
    private readonly DateTimeOffset _now;
    private readonly List<X509Certificate2> _made = [];
    private readonly ECDsa _key;
    private long _serial;

    public TestCertificates(string name, DateTimeOffset now)
    {
        _now = now;
        _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}, O=Broker tests", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        Authority = Keep(request.CreateSelfSigned(now.AddDays(-30), now.AddYears(1)));
    }

    /// <summary>The CA, with its private key (the broker is given <see cref="AuthorityPem"/>, never this key).</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>What an admin gives the broker: the CA certificate, public only.</summary>
    public string AuthorityPem => Authority.ExportCertificatePem();

    /// <summary>A client certificate, as a SPIFFE X.509-SVID is made: the SPIFFE ID as URI SAN, clientAuth, not a CA.</summary>
    public X509Certificate2 Client(string? uriSan, string subject = "CN=workload, O=Broker tests", DateTimeOffset? notBefore = null,
        DateTimeOffset? notAfter = null, bool clientAuth = true)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([clientAuth ? ClientAuthentication : ServerAuthentication], false));
        if (uriSan is not null)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddUri(new Uri(uriSan));
            request.CertificateExtensions.Add(names.Build());
        }
        return Issue(request, key, notBefore ?? _now.AddHours(-1), notAfter ?? _now.AddHours(1));
    }

    /// <summary>A server certificate for 127.0.0.1 and localhost, for Kestrel.</summary>
    public X509Certificate2 Server()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuthentication], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        return Issue(request, key, _now.AddDays(-1), _now.AddDays(30));
    }

    private X509Certificate2 Issue(CertificateRequest request, ECDsa key, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Authority, true, false));
        var serial = BitConverter.GetBytes(Interlocked.Increment(ref _serial) + 1000);
        using var issued = request.Create(Authority, notBefore, notAfter, serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        // Through PKCS#12, as a certificate loaded from a file is: SslStream on every platform takes such a key.
        return Keep(X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null));
    }

    private X509Certificate2 Keep(X509Certificate2 certificate)
    {
        _made.Add(certificate);
        return certificate;
    }

    public static string Thumbprint(X509Certificate2 certificate) => Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));

    /// <summary>As nginx forwards it in <c>$ssl_client_escaped_cert</c>: the PEM, URL-encoded.</summary>
    public static string Escaped(X509Certificate2 certificate) => Uri.EscapeDataString(certificate.ExportCertificatePem());

    public void Dispose()
    {
        foreach (var certificate in _made) certificate.Dispose();
        _key.Dispose();
    }
}
