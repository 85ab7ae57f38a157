namespace Broker.Domain;

/// <summary>
/// An issuer of workload identities the broker trusts. Of <see cref="IssuerKind.Jwt"/>: a Kubernetes cluster, GitHub
/// Actions, SPIRE, an OIDC provider, whose JWTs, signed by one of its keys and carrying <see cref="Audience"/>,
/// authenticate the clients bound to their subject (<see cref="IdentityBinding"/>). Of <see cref="IssuerKind.X509"/>:
/// a certificate authority (a SPIFFE trust bundle, an internal CA) whose client certificates authenticate the clients
/// bound to their URI SAN or subject.
/// </summary>
public sealed class TrustedIssuer
{
    /// <summary>Asymmetric algorithms only: never <c>none</c>, never an HMAC (RFC 8725 §3.1–3.2).</summary>
    public static readonly IReadOnlyList<string> SupportedAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

    public Guid Id { get; set; }
    public required string Name { get; set; }
    public IssuerKind Kind { get; set; }
    /// <summary>The exact <c>iss</c> of its tokens (JWT issuers only).</summary>
    public string? Issuer { get; set; }
    /// <summary>The <c>aud</c> a token must carry to be meant for this broker (JWT issuers, required: a token for another service is not ours).</summary>
    public string? Audience { get; set; }
    /// <summary>Where its keys are; with neither this nor <see cref="Jwks"/>, from its OIDC discovery document.</summary>
    public string? JwksUri { get; set; }
    /// <summary>A static JWKS (public keys), for an issuer the broker cannot reach (a private cluster).</summary>
    public string? Jwks { get; set; }
    /// <summary>Empty for an X.509 issuer.</summary>
    public required string[] Algorithms { get; set; }
    /// <summary>The <c>typ</c> header its tokens must carry, where the issuer declares one (RFC 8725 §3.11); null: not checked.</summary>
    public string? TokenType { get; set; }
    /// <summary>The longest lifetime (<c>exp</c> − <c>iat</c>) accepted: a long-lived token is a stored secret again. 0 for an X.509 issuer.</summary>
    public int MaxLifetimeSeconds { get; set; }
    /// <summary>An X.509 issuer's CA certificates (PEM, one or more roots and intermediates, no private key); null for a JWT issuer.</summary>
    public string? Certificates { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>What an issuer vouches with: signed JWTs, or client certificates of its CA.</summary>
public enum IssuerKind
{
    Jwt,
    X509,
}

public static class IssuerKindNames
{
    public static string ToName(this IssuerKind kind) => kind == IssuerKind.X509 ? "x509" : "jwt";

    public static IssuerKind? TryParse(string? name) => name switch
    {
        "jwt" => IssuerKind.Jwt,
        "x509" => IssuerKind.X509,
        _ => null,
    };
}
