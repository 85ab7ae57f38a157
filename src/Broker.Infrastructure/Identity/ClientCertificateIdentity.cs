using System.Collections.Concurrent;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Broker.Domain;
using Broker.Infrastructure.Security;
using Microsoft.Extensions.Options;

namespace Broker.Infrastructure.Identity;

/// <summary>
/// Authenticates a caller by its client certificate: the chain up to the CA certificates of a trusted X.509 issuer
/// (a SPIFFE trust bundle, an internal CA), valid now on the broker's clock and meant for client authentication,
/// then the one client whose identity binding matches its URI SAN (or subject DN). A validated certificate is
/// remembered by its SHA-256 thumbprint until it (or a CA of its chain) expires, or until the directory changes,
/// so a service's repeated requests build no chain; new chains are built within the <see cref="IdentityCheckBudget"/>
/// shared with the JWT signature checks.
/// </summary>
/// <remarks>
/// Revocation is not checked (<see cref="X509RevocationMode.NoCheck"/>): the broker fetches nothing a certificate
/// points at (no CRL, OCSP or AIA download, which would let a caller make it call any URL), and the certificates of
/// workload identity CAs (SPIRE, cert-manager) live hours, not years: a compromised workload is cut off by removing
/// its binding, or by the certificate's expiry.
/// </remarks>
public sealed class ClientCertificateIdentity(ClientDirectory directory, IdentityCheckBudget budget, TimeProvider time,
    IOptions<WorkloadIdentityOptions> options)
{
    /// <summary>How a certificate-authenticated caller is named in <see cref="AuthenticatedClient.Identity"/>: <c>cert:&lt;sha-256 thumbprint&gt;</c>.</summary>
    public const string IdentityPrefix = "cert:";

    /// <summary>A client certificate is 1–3 KB; this leaves room for long names, and bounds what a forwarded header may make the broker parse.</summary>
    public const int MaxCertificateBytes = 16 * 1024;

    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2", "Client Authentication");
    private const string SubjectAlternativeName = "2.5.29.17";
    private static readonly Asn1Tag UriName = new(TagClass.ContextSpecific, 6);

    private readonly ConcurrentDictionary<string, Validated> _validated = new(StringComparer.Ordinal);
    private volatile Authorities _authorities = new([], []);
    private long _chainBuilds;

    /// <summary>Chains built (certificates not found among the validated ones), for tests and the benchmark.</summary>
    public long ChainBuilds => Interlocked.Read(ref _chainBuilds);

    /// <summary>A certificate the TLS connection presented.</summary>
    public IdentityOutcome Authenticate(X509Certificate2 certificate) => Authenticate(certificate.RawDataMemory.Span, certificate);

    /// <summary>A certificate in DER, as a trusted proxy forwarded it.</summary>
    public IdentityOutcome Authenticate(byte[] der) => Authenticate(der, null);

    private IdentityOutcome Authenticate(ReadOnlySpan<byte> der, X509Certificate2? loaded)
    {
        if (der.Length > MaxCertificateBytes)
            return Invalid($"The client certificate is larger than {MaxCertificateBytes} bytes.", "client certificate too large");
        var thumbprint = IssuerCertificates.Thumbprint(der);
        var now = time.GetUtcNow();
        if (_validated.TryGetValue(thumbprint, out var known) && known.ValidUntil > now && known.ValidFrom <= now)
        {
            if (known.Generation == directory.Generation) return known.Outcome;
            // The directory changed: the chain still holds as long as its issuer is the same, so only the binding is
            // looked at again, as for a remembered token.
            if (directory.CertificateIssuers.FirstOrDefault(i => i.Id == known.Issuer.Id) is { } same && same.UpdatedAt == known.Issuer.UpdatedAt)
            {
                var current = directory.Generation;
                var rebound = Bind(same, known.UriSans, known.SubjectDn, thumbprint);
                _validated[thumbprint] = known with { Outcome = rebound, Generation = current };
                return rebound;
            }
        }

        X509Certificate2 certificate;
        try
        {
            certificate = loaded ?? X509CertificateLoader.LoadCertificate(der);
        }
        catch (CryptographicException)
        {
            return Invalid("The client certificate cannot be read (not an X.509 certificate in DER).", "malformed client certificate");
        }
        try
        {
            return Check(certificate, thumbprint, now);
        }
        finally
        {
            if (loaded is null) certificate.Dispose();
        }
    }

    private IdentityOutcome Check(X509Certificate2 certificate, string thumbprint, DateTimeOffset now)
    {
        // The cheap refusals first, before any chain is built or the budget is touched.
        if (certificate.NotAfter.ToUniversalTime() <= now.UtcDateTime)
            return Invalid("The client certificate has expired; present a current one.", "client certificate expired");
        if (certificate.NotBefore.ToUniversalTime() > now.UtcDateTime)
            return Invalid("The client certificate is not valid yet (its notBefore is in the future).", "client certificate not yet valid");
        if (IssuerCertificates.IsAuthority(certificate))
            return Invalid("The client certificate is a CA certificate: present the client's own certificate.", "CA certificate as client certificate");
        var candidates = AuthoritiesNow().Issuing(certificate);
        if (candidates.Count == 0)
            return Invalid("The client certificate is not from a CA this broker trusts; an admin registers CAs at /admin/issuers (kind x509).",
                "client certificate from an untrusted CA");

        if (!budget.TryTake()) return new IdentityOutcome.Refused(IdentityRefusal.Busy,
            "Too many new client certificates are being checked; retry in a second.", "identity checks over budget");
        Interlocked.Increment(ref _chainBuilds);

        IdentityOutcome.Refused? refused = null;
        foreach (var authority in candidates)
        {
            var (validUntil, problem) = Chain(certificate, authority, now);
            if (problem is not null)
            {
                refused ??= Invalid(problem.Value.Detail, $"{problem.Value.Reason} (issuer {authority.Issuer.Name})");
                continue;
            }

            var uriSans = UriSans(certificate);
            var subjectDn = certificate.SubjectName.Name;
            var generation = directory.Generation;
            var outcome = Bind(authority.Issuer, uriSans, subjectDn, thumbprint);
            Remember(thumbprint, new Validated(outcome, certificate.NotBefore.ToUniversalTime(), validUntil, generation, authority.Issuer, uriSans, subjectDn));
            return outcome;
        }
        return refused!;
    }

    /// <summary>Builds the chain to one issuer's CAs; until when it holds (the earliest expiry in it), or why not.</summary>
    private static (DateTimeOffset ValidUntil, (string Detail, string Reason)? Problem) Chain(X509Certificate2 certificate, Authority authority, DateTimeOffset now)
    {
        using var chain = new X509Chain();
        var policy = chain.ChainPolicy;
        policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        policy.CustomTrustStore.AddRange(authority.Roots);
        policy.ExtraStore.AddRange(authority.Intermediates);
        policy.RevocationMode = X509RevocationMode.NoCheck; // see the remarks: no CRL or OCSP
        policy.DisableCertificateDownloads = true; // never fetch an intermediate from a URL the certificate names
        policy.VerificationTime = now.UtcDateTime; // the broker's clock, not the machine's
        policy.VerificationTimeIgnored = false;
        policy.ApplicationPolicy.Add(ClientAuthentication); // a certificate with an EKU must allow clientAuth (so must its CAs, if they say)
        try
        {
            if (chain.Build(certificate))
                return (chain.ChainElements.Select(e => new DateTimeOffset(e.Certificate.NotAfter.ToUniversalTime())).Min(), null);
            var status = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status);
            return (default, status switch
            {
                _ when status.HasFlag(X509ChainStatusFlags.NotTimeValid) =>
                    ("The client certificate, or a CA certificate of its chain, has expired or is not valid yet.", "client certificate chain expired"),
                _ when status.HasFlag(X509ChainStatusFlags.NotValidForUsage) =>
                    ("The client certificate is not meant for client authentication (its extended key usage lacks clientAuth).", "client certificate not for client authentication"),
                _ when status.HasFlag(X509ChainStatusFlags.UntrustedRoot) || status.HasFlag(X509ChainStatusFlags.PartialChain) =>
                    ("The client certificate is not from a CA this broker trusts; an admin registers CAs at /admin/issuers (kind x509).", "client certificate from an untrusted CA"),
                _ => ("The client certificate's chain does not verify with its issuer's CA certificates.", "client certificate chain invalid"),
            });
        }
        finally
        {
            foreach (var element in chain.ChainElements) element.Certificate.Dispose();
        }
    }

    private IdentityOutcome Bind(TrustedIssuer issuer, IReadOnlyList<string> uriSans, string subjectDn, string thumbprint)
    {
        var clients = directory.BoundTo(issuer.Id).Where(b => b.Binding.CertificateMatches(uriSans, subjectDn))
            .Select(b => b.Client).DistinctBy(c => c.Id).ToList();
        var shown = SafeText.Shorten(uriSans.Count > 0 ? $"{string.Join(" ", uriSans)}; {subjectDn}" : subjectDn, 200)!;
        return WorkloadIdentity.OneClient(clients, issuer, shown, "client certificate", IdentityPrefix + thumbprint);
    }

    /// <summary>The certificate's URI subject alternative names (a SPIFFE ID, for an X.509-SVID), as written.</summary>
    public static IReadOnlyList<string> UriSans(X509Certificate2 certificate)
    {
        var uris = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value != SubjectAlternativeName) continue;
            try
            {
                // GeneralNames (RFC 5280 §4.2.1.6): a URI is [6] IA5String; .NET enumerates DNS names and addresses only.
                var names = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
                while (names.HasData)
                {
                    if (names.PeekTag().HasSameClassAndValue(UriName)) uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, UriName));
                    else names.ReadEncodedValue();
                }
            }
            catch (AsnContentException)
            {
                // A SAN that cannot be read names nothing: bindings by URI do not match it.
            }
        }
        return uris;
    }

    /// <summary>The CAs of the directory's X.509 issuers, read once per list the directory hands out.</summary>
    private Authorities AuthoritiesNow()
    {
        var issuers = directory.CertificateIssuers;
        var held = _authorities;
        if (ReferenceEquals(held.Issuers, issuers)) return held;
        var read = new Authorities(issuers, [.. issuers.Select(Authority.Of).OfType<Authority>()]);
        _authorities = read;
        return read;
    }

    private static IdentityOutcome.Refused Invalid(string detail, string reason) => new(IdentityRefusal.Invalid, detail, reason);

    private void Remember(string thumbprint, Validated validated)
    {
        if (_validated.Count >= options.Value.MaxCachedTokens) _validated.Clear(); // bounded; the next requests check again
        _validated[thumbprint] = validated;
    }

    private sealed record Authorities(IReadOnlyList<TrustedIssuer> Issuers, IReadOnlyList<Authority> All)
    {
        /// <summary>The issuers holding a CA whose subject is the certificate's issuer: only their chains can hold.</summary>
        public List<Authority> Issuing(X509Certificate2 certificate) =>
            All.Where(a => a.Subjects.Any(s => s.AsSpan().SequenceEqual(certificate.IssuerName.RawData))).ToList();
    }

    private sealed record Authority(TrustedIssuer Issuer, X509Certificate2Collection Roots, X509Certificate2Collection Intermediates, byte[][] Subjects)
    {
        public static Authority? Of(TrustedIssuer issuer)
        {
            try
            {
                var certificates = IssuerCertificates.Read(issuer.Certificates ?? "");
                return new Authority(issuer, [.. certificates.Where(IssuerCertificates.IsRoot)], [.. certificates.Where(c => !IssuerCertificates.IsRoot(c))],
                    [.. certificates.Select(c => c.SubjectName.RawData)]);
            }
            catch (Exception e) when (e is CryptographicException or FormatException)
            {
                return null; // checked when it was stored; a row that cannot be read trusts nothing
            }
        }
    }

    /// <summary>A certificate whose chain held: what it was bound to, and what to bind it again with.</summary>
    private sealed record Validated(IdentityOutcome Outcome, DateTimeOffset ValidFrom, DateTimeOffset ValidUntil, long Generation, TrustedIssuer Issuer,
        IReadOnlyList<string> UriSans, string SubjectDn);
}
