using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Broker.Infrastructure.Identity;

/// <summary>
/// The CA certificates of an X.509 issuer, as PEM: read for chain building, and checked when an admin gives them
/// (every block a certificate, each a CA, at least one root, nothing private).
/// </summary>
public static class IssuerCertificates
{
    public const int MaxCertificates = 20;
    private const string CertificateLabel = "CERTIFICATE";

    /// <summary>Every certificate in the PEM text, in order; the text was checked when it was stored.</summary>
    public static X509Certificate2[] Read(string pem)
    {
        var certificates = new List<X509Certificate2>();
        var rest = pem.AsSpan();
        while (PemEncoding.TryFind(rest, out var fields))
        {
            if (rest[fields.Label].SequenceEqual(CertificateLabel))
                certificates.Add(X509CertificateLoader.LoadCertificate(Convert.FromBase64String(rest[fields.Base64Data].ToString())));
            rest = rest[fields.Location.End..];
        }
        return [.. certificates];
    }

    /// <summary>What is wrong with certificates an admin gives, said for the <c>certificates</c> field; null when nothing.</summary>
    public static string? Problem(string pem, DateTimeOffset now)
    {
        var labels = new List<string>();
        var rest = pem.AsSpan();
        while (PemEncoding.TryFind(rest, out var fields))
        {
            labels.Add(rest[fields.Label].ToString());
            rest = rest[fields.Location.End..];
        }
        // Also where the PEM around it does not parse: a key is refused for what it is, not for a missing line break.
        if (pem.Contains("PRIVATE KEY", StringComparison.Ordinal))
            return "holds a private key: give the CA certificates only (the broker needs no key of the CA).";
        if (labels.Count == 0) return "holds no PEM certificate (-----BEGIN CERTIFICATE-----).";
        if (labels.FirstOrDefault(l => l != CertificateLabel) is { } other)
            return $"holds a PEM block that is not a certificate ({SafeLabel(other)}).";
        if (labels.Count > MaxCertificates) return $"must be at most {MaxCertificates} certificates.";

        X509Certificate2[] certificates;
        try
        {
            certificates = Read(pem);
        }
        catch (Exception e) when (e is CryptographicException or FormatException)
        {
            return "holds a certificate that cannot be read.";
        }
        try
        {
            for (var i = 0; i < certificates.Length; i++)
            {
                var certificate = certificates[i];
                if (certificate.HasPrivateKey) return "holds a private key: give the CA certificates only.";
                if (!IsAuthority(certificate))
                    return $"certificate {i + 1} ({Shown(certificate)}) is not a CA certificate (basic constraints CA:TRUE): give the CA, not a client's certificate.";
                if (certificate.NotAfter.ToUniversalTime() <= now.UtcDateTime) return $"certificate {i + 1} ({Shown(certificate)}) has expired.";
            }
            if (!certificates.Any(IsRoot))
                return "holds no root (self-signed) CA certificate: a chain must end in one, so give the root with its intermediates.";
            return null;
        }
        finally
        {
            foreach (var certificate in certificates) certificate.Dispose();
        }
    }

    public static bool IsRoot(X509Certificate2 certificate) => certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData);

    public static bool IsAuthority(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is { CertificateAuthority: true };

    /// <summary>SHA-256 of the DER, lower-case hex: what <c>openssl x509 -outform der | sha256sum</c> prints.</summary>
    public static string Thumbprint(ReadOnlySpan<byte> der) => Convert.ToHexStringLower(SHA256.HashData(der));

    private static string Shown(X509Certificate2 certificate) => Broker.Domain.SafeText.Shorten(certificate.Subject, 120) ?? "";

    private static string SafeLabel(string label) => Broker.Domain.SafeText.Shorten(label, 40) ?? "";
}
