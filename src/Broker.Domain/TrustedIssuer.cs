namespace Broker.Domain;

/// <summary>
/// An issuer of workload identity tokens the broker trusts (a Kubernetes cluster, GitHub Actions, SPIRE, an OIDC
/// provider): its JWTs, signed by one of its keys and carrying <see cref="Audience"/>, authenticate the clients bound
/// to their subject (<see cref="IdentityBinding"/>).
/// </summary>
public sealed class TrustedIssuer
{
    /// <summary>Asymmetric algorithms only: never <c>none</c>, never an HMAC (RFC 8725 §3.1–3.2).</summary>
    public static readonly IReadOnlyList<string> SupportedAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

    public Guid Id { get; set; }
    public required string Name { get; set; }
    /// <summary>The exact <c>iss</c> of its tokens.</summary>
    public required string Issuer { get; set; }
    /// <summary>The <c>aud</c> a token must carry to be meant for this broker (required: a token for another service is not ours).</summary>
    public required string Audience { get; set; }
    /// <summary>Where its keys are; with neither this nor <see cref="Jwks"/>, from its OIDC discovery document.</summary>
    public string? JwksUri { get; set; }
    /// <summary>A static JWKS (public keys), for an issuer the broker cannot reach (a private cluster).</summary>
    public string? Jwks { get; set; }
    public required string[] Algorithms { get; set; }
    /// <summary>The <c>typ</c> header its tokens must carry, where the issuer declares one (RFC 8725 §3.11); null: not checked.</summary>
    public string? TokenType { get; set; }
    /// <summary>The longest lifetime (<c>exp</c> − <c>iat</c>) accepted: a long-lived token is a stored secret again.</summary>
    public int MaxLifetimeSeconds { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}
