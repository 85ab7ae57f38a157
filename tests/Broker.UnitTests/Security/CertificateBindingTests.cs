using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Broker.Domain;
using Broker.Infrastructure.Identity;

namespace Broker.UnitTests.Security;

/// <summary>How a binding to an x509 issuer matches a client certificate's names, and what an admin's CA certificates may hold.</summary>
public sealed class CertificateBindingTests
{
    private static IdentityBinding Binding(string subject, CertificateField field = CertificateField.UriSan) =>
        new() { Subject = subject, CertificateField = field };

    [Theory]
    [InlineData("spiffe://cluster.local/ns/payments/sa/api", "spiffe://cluster.local/ns/payments/sa/api", true)]
    [InlineData("spiffe://cluster.local/ns/payments/sa/*", "spiffe://cluster.local/ns/payments/sa/api", true)]
    [InlineData("spiffe://cluster.local/ns/payments/sa/*", "spiffe://cluster.local/ns/payments-staging/sa/api", false)]
    [InlineData("spiffe://cluster.local/ns/payments/sa/api", "spiffe://cluster.local/ns/payments/sa/api2", false)]
    [InlineData("spiffe://cluster.local/ns/payments/sa/api", "spiffe://other.domain/ns/payments/sa/api", false)]
    [InlineData("spiffe://cluster.local/ns/payments/sa/api", "SPIFFE://cluster.local/ns/payments/sa/api", false)] // compared as written
    public void A_uri_san_binding_matches_the_certificates_uri_san_exactly_or_by_glob(string subject, string uriSan, bool matches) =>
        Binding(subject).CertificateMatches([uriSan], "CN=api, O=Acme").ShouldBe(matches);

    [Fact]
    public void A_uri_san_binding_matches_any_of_several_sans_and_never_the_subject()
    {
        var binding = Binding("spiffe://cluster.local/ns/payments/sa/api");
        binding.CertificateMatches(["https://api.example", "spiffe://cluster.local/ns/payments/sa/api"], "CN=x").ShouldBeTrue();
        binding.CertificateMatches([], "spiffe://cluster.local/ns/payments/sa/api").ShouldBeFalse();
    }

    [Theory]
    [InlineData("CN=payments, O=Acme", "CN=payments, O=Acme", true)]
    [InlineData("CN=payments, OU=*, O=Acme", "CN=payments, OU=finance, O=Acme", true)]
    [InlineData("CN=payments, O=Acme", "CN=payments-admin, O=Acme", false)]
    [InlineData("CN=payments, O=Acme", "CN=payments, O=Acme Evil", false)]
    public void A_subject_dn_binding_matches_the_subject_and_never_a_san(string subject, string dn, bool matches)
    {
        var binding = Binding(subject, CertificateField.SubjectDn);
        binding.CertificateMatches([], dn).ShouldBe(matches);
        binding.CertificateMatches([dn], "CN=other").ShouldBeFalse();
    }

    [Fact]
    public void The_uri_sans_are_read_from_the_certificate_and_its_subject_as_bindings_write_it()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=api, OU=payments, O=Acme", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("api.payments.svc");
        names.AddUri(new Uri("spiffe://cluster.local/ns/payments/sa/api"));
        names.AddEmailAddress("ops@example.com");
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));

        ClientCertificateIdentity.UriSans(certificate).ShouldBe(["spiffe://cluster.local/ns/payments/sa/api"]);
        certificate.SubjectName.Name.ShouldBe("CN=api, OU=payments, O=Acme");
    }

    [Fact]
    public void Issuer_certificates_must_be_ca_certificates_with_a_root_and_no_private_key()
    {
        var now = DateTimeOffset.UtcNow;
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=Root", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var root = rootRequest.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leaf = new CertificateRequest("CN=leaf", leafKey, HashAlgorithmName.SHA256).Create(root, now, now.AddDays(1), [1, 2, 3]);
        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var intermediateRequest = new CertificateRequest("CN=Intermediate", intermediateKey, HashAlgorithmName.SHA256);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var intermediate = intermediateRequest.Create(root, now, now.AddYears(1), [4, 5, 6]);

        IssuerCertificates.Problem(root.ExportCertificatePem(), now).ShouldBeNull();
        IssuerCertificates.Problem(root.ExportCertificatePem() + "\n" + intermediate.ExportCertificatePem(), now).ShouldBeNull();
        IssuerCertificates.Problem(intermediate.ExportCertificatePem(), now).ShouldNotBeNull().ShouldContain("no root");
        IssuerCertificates.Problem(leaf.ExportCertificatePem(), now).ShouldNotBeNull().ShouldContain("not a CA certificate");
        IssuerCertificates.Problem(root.ExportCertificatePem() + rootKey.ExportPkcs8PrivateKeyPem(), now).ShouldNotBeNull().ShouldContain("private key");
        IssuerCertificates.Problem("hello", now).ShouldNotBeNull().ShouldContain("no PEM certificate");
        IssuerCertificates.Problem(root.ExportCertificatePem(), now.AddYears(2)).ShouldNotBeNull().ShouldContain("has expired");
    }
}
