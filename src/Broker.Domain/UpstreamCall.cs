namespace Broker.Domain;

/// <summary>How to reach one provider's token endpoints: the decrypted view of a provider row.</summary>
/// <param name="Name">The provider's name, which Broker:Upstream:AllowPlainHttp lists.</param>
public sealed record ProviderEndpoint(
    Dialect Dialect,
    Uri TokenUrl,
    Uri? RefreshUrl,
    TimeSpan DefaultAccessLifetime,
    TimeSpan? DefaultRefreshLifetime,
    ClientAuthentication ClientAuthentication = ClientAuthentication.Basic,
    string? RefreshTokenField = null,
    TimeSpan? Timeout = null,
    string? Name = null);

/// <summary>Where OAuth2 dialects put the client id and secret (RFC 6749 §2.3.1 prefers HTTP Basic).</summary>
public enum ClientAuthentication
{
    Basic,
    Body,
}

/// <summary>
/// The decrypted credentials of one account, merged with its provider's defaults (client id and secret, scope).
/// Lives only for the duration of an upstream call; <see cref="ToString"/> hides the secrets.
/// </summary>
public sealed record AccountCredentials(
    string? Username,
    string? Password,
    string? OrgName,
    string? ClientId,
    string? ClientSecret,
    string? Scope)
{
    public override string ToString() =>
        $"AccountCredentials {{ Username = {Username}, OrgName = {OrgName}, ClientId = {ClientId}, Scope = {Scope} }}";
}
