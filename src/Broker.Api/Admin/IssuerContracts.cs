using System.Text.Json.Nodes;
using Broker.Domain;
using Broker.Infrastructure.Identity;

namespace Broker.Api.Admin;

/// <summary>An issuer of workload identities the broker trusts (docs/consumers.md, "Workload identity", "Client certificates").</summary>
/// <param name="Name">Unique name, used in URLs and bindings (e.g. <c>prod-cluster</c>).</param>
/// <param name="Issuer">jwt: the exact iss of its tokens (e.g. https://kubernetes.default.svc, https://token.actions.githubusercontent.com).</param>
/// <param name="Audience">jwt: the aud its tokens must carry to be meant for this broker (required).</param>
/// <param name="JwksUri">jwt: where its keys are. Leave out both this and jwks to use its OIDC discovery ({issuer}/.well-known/openid-configuration).</param>
/// <param name="Jwks">jwt: a static JWKS (public keys only), for an issuer the broker cannot reach.</param>
/// <param name="Algorithms">jwt: signature algorithms accepted, asymmetric only (default: RS256, PS256, ES256).</param>
/// <param name="MaxLifetimeSeconds">jwt: the longest token lifetime (exp − iat) accepted, 60 to 86400 s (default 3600).</param>
/// <param name="TokenType">jwt: the typ header its tokens must carry, where the issuer declares one (e.g. at+jwt); default: not checked.</param>
/// <param name="Kind">jwt (default): signed tokens; x509: client certificates from a CA (a SPIFFE trust bundle, an internal CA).</param>
/// <param name="Certificates">x509: the CA certificates as PEM, the root and any intermediates (certificates only, never a private key).</param>
public sealed record IssuerRequest(
    string? Name,
    string? Issuer,
    string? Audience,
    string? JwksUri = null,
    JsonObject? Jwks = null,
    List<string>? Algorithms = null,
    int? MaxLifetimeSeconds = null,
    string? TokenType = null,
    string? Kind = null,
    string? Certificates = null);

/// <summary>A trusted issuer; of kind x509, its certificates list the CA certificates held (null for jwt), and the jwt fields are null or empty.</summary>
public sealed record IssuerResponse(
    string Name, string? Issuer, string? Audience, string? JwksUri, bool HasStaticJwks, IReadOnlyList<string> Algorithms,
    int? MaxLifetimeSeconds, DateTimeOffset CreatedAt, string? TokenType = null, string Kind = "jwt",
    IReadOnlyList<IssuerCertificate>? Certificates = null)
{
    public static IssuerResponse From(TrustedIssuer i) =>
        new(i.Name, i.Issuer, i.Audience, i.JwksUri, i.Jwks is not null, i.Algorithms, i.Kind == IssuerKind.Jwt ? i.MaxLifetimeSeconds : null,
            i.CreatedAt, i.TokenType, i.Kind.ToName(), i.Kind == IssuerKind.X509 ? IssuerCertificate.All(i.Certificates) : null);
}

/// <summary>
/// One CA certificate of an x509 issuer, as an admin tells them apart (the PEM itself is not repeated): its subject, the
/// SHA-256 of its DER in lower-case hex (openssl x509 -outform der | sha256sum) and its expiry.
/// </summary>
public sealed record IssuerCertificate(string Subject, string Sha256, DateTimeOffset NotAfter)
{
    public static List<IssuerCertificate> All(string? pem)
    {
        var certificates = IssuerCertificates.Read(pem ?? "");
        try
        {
            return [.. certificates.Select(c => new IssuerCertificate(c.Subject, IssuerCertificates.Thumbprint(c.RawDataMemory.Span), c.NotAfter.ToUniversalTime()))];
        }
        finally
        {
            foreach (var certificate in certificates) certificate.Dispose();
        }
    }
}

/// <summary>An identity bound to a client: tokens (or client certificates) of the issuer whose subject and claims match authenticate as the client.</summary>
/// <param name="Issuer">The trusted issuer's name.</param>
/// <param name="Subject">The sub, exact or a glob where * stands for any run of characters (system:serviceaccount:payments:*); for an
/// x509 issuer the certificate's URI SAN (spiffe://cluster.local/ns/payments/sa/*) or, with certificate_field subject_dn, its subject
/// (CN=payments, O=Acme).</param>
/// <param name="Claims">jwt: claims the token must also carry with these values (repository: acme/payments; dots descend into
/// objects: kubernetes.io.namespace); at most 10.</param>
/// <param name="CertificateField">x509: what of the certificate subject is matched against: uri_san (default) or subject_dn.</param>
public sealed record IdentityBindingRequest(string? Issuer, string? Subject, Dictionary<string, string>? Claims = null, string? CertificateField = null);

/// <summary>A bound identity; certificate_field is uri_san or subject_dn for a binding to an x509 issuer, null for a jwt issuer.</summary>
public sealed record IdentityBindingResponse(Guid Id, string Issuer, string Subject, IReadOnlyDictionary<string, string>? Claims, DateTimeOffset CreatedAt,
    string? CertificateField = null);
