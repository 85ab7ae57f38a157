using Broker.Domain;
using Broker.Infrastructure.Upstream.Dialects;

namespace Broker.Api.Admin;

/// <summary>A provider: an upstream token endpoint and the dialect it speaks.</summary>
/// <param name="Name">Unique name, used in URLs (e.g. <c>sliderule</c>).</param>
/// <param name="Dialect">One of sliderule, simplejwt, keycloak, oauth2-password, oauth2-client-credentials, oauth2-authorization-code.</param>
/// <param name="TokenUrl">The login (token) endpoint, e.g. https://ps.slideruleearth.io/api/org_token/.</param>
/// <param name="RefreshUrl">The refresh endpoint, when it is not the dialect's default next to token_url.</param>
/// <param name="ClientId">OAuth2 client id shared by the provider's accounts (an account may override it).</param>
/// <param name="ClientSecret">OAuth2 client secret; write-only. On PUT, null keeps the stored one and "" removes it.</param>
/// <param name="ClientAuthentication">How the OAuth2 client authenticates: basic (HTTP Basic, default) or body.</param>
/// <param name="RefreshTokenField">JSON field of the refresh body (keycloak dialect; default refresh_token).</param>
/// <param name="Scope">Scope requested by default.</param>
/// <param name="DefaultAccessLifetimeSeconds">Used when neither the response nor the token says when it expires (default 300).</param>
/// <param name="DefaultRefreshLifetimeSeconds">The same for refresh tokens (default: unknown, tried until rejected).</param>
/// <param name="TimeoutSeconds">This provider's upstream timeout, 1 to 120 s; Broker:Upstream:Timeout stays the cap (default: that setting).</param>
/// <param name="AuthorizationUrl">oauth2-authorization-code only, and required there: the authorization endpoint a person's browser is sent to.</param>
/// <param name="AuthorizationParameters">oauth2-authorization-code only: extra parameters of the authorization request (e.g. access_type=offline,
/// prompt=consent); at most 20, never response_type, client_id, redirect_uri, state, scope or code_challenge*.</param>
/// <param name="RefreshReuseGraceSeconds">How long the upstream still accepts a refresh token it has just rotated, 1 to 86400 s
/// (default: not at all). Only within it is a refresh whose answer was lost (the broker died) sent again (docs/providers.md).</param>
/// <param name="Issuer">oauth2-authorization-code only: the authorization server's issuer identifier (its metadata's issuer). A
/// connect callback that carries iss (RFC 9207) must carry this one.</param>
/// <param name="IssuerRequired">oauth2-authorization-code only, with issuer: a callback without iss is refused. Set it when the
/// server's metadata says authorization_response_iss_parameter_supported: true (default false).</param>
public sealed record ProviderRequest(
    string? Name,
    string? Dialect,
    string? TokenUrl,
    string? RefreshUrl = null,
    string? ClientId = null,
    string? ClientSecret = null,
    string? ClientAuthentication = null,
    string? RefreshTokenField = null,
    string? Scope = null,
    int? DefaultAccessLifetimeSeconds = null,
    int? DefaultRefreshLifetimeSeconds = null,
    int? TimeoutSeconds = null,
    string? AuthorizationUrl = null,
    Dictionary<string, string>? AuthorizationParameters = null,
    int? RefreshReuseGraceSeconds = null,
    string? Issuer = null,
    bool? IssuerRequired = null)
{
    public override string ToString() => $"ProviderRequest {{ Name = {Name}, Dialect = {Dialect} }}";
}

public sealed record ProviderResponse(
    string Name,
    string Dialect,
    string TokenUrl,
    string? RefreshUrl,
    string? EffectiveRefreshUrl,
    string? ClientId,
    bool HasClientSecret,
    string ClientAuthentication,
    string? RefreshTokenField,
    string? Scope,
    int DefaultAccessLifetimeSeconds,
    int? DefaultRefreshLifetimeSeconds,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    int? TimeoutSeconds = null,
    string? AuthorizationUrl = null,
    IReadOnlyDictionary<string, string>? AuthorizationParameters = null,
    int? RefreshReuseGraceSeconds = null,
    string? Issuer = null,
    bool IssuerRequired = false)
{
    public static ProviderResponse From(Provider p) => new(
        p.Name, p.Dialect.ToName(), p.TokenUrl, p.RefreshUrl, RefreshUrls.For(p.ToEndpoint())?.ToString(),
        p.ClientId, p.ClientSecretEncrypted is not null,
        p.ClientAuthentication == Domain.ClientAuthentication.Body ? "body" : "basic",
        p.RefreshTokenField, p.Scope, p.DefaultAccessLifetimeSeconds, p.DefaultRefreshLifetimeSeconds, p.CreatedAt, p.UpdatedAt, p.TimeoutSeconds,
        p.AuthorizationUrl, p.AuthorizationParameters, p.RefreshReuseGraceSeconds, p.Issuer, p.IssuerRequired);
}
