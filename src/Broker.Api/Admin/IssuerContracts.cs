using System.Text.Json.Nodes;
using Broker.Domain;

namespace Broker.Api.Admin;

/// <summary>An issuer of workload identity tokens the broker trusts (docs/consumers.md, "Workload identity").</summary>
/// <param name="Name">Unique name, used in URLs and bindings (e.g. <c>prod-cluster</c>).</param>
/// <param name="Issuer">The exact iss of its tokens (e.g. https://kubernetes.default.svc, https://token.actions.githubusercontent.com).</param>
/// <param name="Audience">The aud its tokens must carry to be meant for this broker (required).</param>
/// <param name="JwksUri">Where its keys are. Leave out both this and jwks to use its OIDC discovery ({issuer}/.well-known/openid-configuration).</param>
/// <param name="Jwks">A static JWKS (public keys only), for an issuer the broker cannot reach.</param>
/// <param name="Algorithms">Signature algorithms accepted, asymmetric only (default: RS256, PS256, ES256).</param>
/// <param name="MaxLifetimeSeconds">The longest token lifetime (exp − iat) accepted, 60 to 86400 s (default 3600).</param>
/// <param name="TokenType">The typ header its tokens must carry, where the issuer declares one (e.g. at+jwt); default: not checked.</param>
public sealed record IssuerRequest(
    string? Name,
    string? Issuer,
    string? Audience,
    string? JwksUri = null,
    JsonObject? Jwks = null,
    List<string>? Algorithms = null,
    int? MaxLifetimeSeconds = null,
    string? TokenType = null);

public sealed record IssuerResponse(
    string Name, string Issuer, string Audience, string? JwksUri, bool HasStaticJwks, IReadOnlyList<string> Algorithms,
    int MaxLifetimeSeconds, DateTimeOffset CreatedAt, string? TokenType = null)
{
    public static IssuerResponse From(TrustedIssuer i) =>
        new(i.Name, i.Issuer, i.Audience, i.JwksUri, i.Jwks is not null, i.Algorithms, i.MaxLifetimeSeconds, i.CreatedAt, i.TokenType);
}

/// <summary>An identity bound to a client: tokens of the issuer whose subject and claims match authenticate as the client.</summary>
/// <param name="Issuer">The trusted issuer's name.</param>
/// <param name="Subject">The sub, exact or a glob where * stands for any run of characters (system:serviceaccount:payments:*).</param>
/// <param name="Claims">Claims the token must also carry with these values (repository: acme/payments; dots descend into
/// objects: kubernetes.io.namespace); at most 10.</param>
public sealed record IdentityBindingRequest(string? Issuer, string? Subject, Dictionary<string, string>? Claims = null);

public sealed record IdentityBindingResponse(Guid Id, string Issuer, string Subject, IReadOnlyDictionary<string, string>? Claims, DateTimeOffset CreatedAt);
