namespace Broker.Domain;

/// <summary>An upstream token endpoint, the dialect it speaks and its defaults for the accounts on it.</summary>
public sealed class Provider
{
    public Guid Id { get; set; }
    public required string Name { get; set; }
    public Dialect Dialect { get; set; }
    public required string TokenUrl { get; set; }
    /// <summary>Where a person consents (oauth2-authorization-code): the broker sends their browser there to connect an account.</summary>
    public string? AuthorizationUrl { get; set; }
    /// <summary>Extra parameters of the authorization request (e.g. access_type=offline), never the ones the broker sets itself.</summary>
    public Dictionary<string, string>? AuthorizationParameters { get; set; }
    /// <summary>
    /// The authorization server's issuer identifier (RFC 9207): a connect callback's <c>iss</c> must equal it when it
    /// comes, and must come when <see cref="IssuerRequired"/> (as the server's metadata says).
    /// </summary>
    public string? Issuer { get; set; }
    public bool IssuerRequired { get; set; }
    public string? RefreshUrl { get; set; }
    public string? ClientId { get; set; }
    public string? ClientSecretEncrypted { get; set; }
    public ClientAuthentication ClientAuthentication { get; set; }
    /// <summary>The JSON field of the refresh body, for upstreams (Keycloak-style) that do not document it.</summary>
    public string? RefreshTokenField { get; set; }
    public string? Scope { get; set; }
    public int DefaultAccessLifetimeSeconds { get; set; } = 300;
    public int? DefaultRefreshLifetimeSeconds { get; set; }
    /// <summary>This provider's upstream timeout, when shorter than the global one.</summary>
    public int? TimeoutSeconds { get; set; }
    /// <summary>
    /// How long the upstream still accepts a refresh token it has just rotated (null: not at all). Only within it is a
    /// refresh whose answer was lost sent again (docs/architecture.md, "Crash safety").
    /// </summary>
    public int? RefreshReuseGraceSeconds { get; set; }

    public TimeSpan? RefreshReuseGrace => RefreshReuseGraceSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null;
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>
    /// An admin changed where the provider sends secrets: a stored client secret goes only where it was entered for,
    /// so one not entered again with the change is cleared. Returns the names of those cleared.
    /// </summary>
    public List<string> DestinationChanged(bool clientSecretReentered)
    {
        if (clientSecretReentered || ClientSecretEncrypted is null) return [];
        ClientSecretEncrypted = null;
        return ["client_secret"];
    }

    public ProviderEndpoint ToEndpoint() => new(
        Dialect,
        new Uri(TokenUrl),
        RefreshUrl is null ? null : new Uri(RefreshUrl),
        TimeSpan.FromSeconds(DefaultAccessLifetimeSeconds),
        DefaultRefreshLifetimeSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
        ClientAuthentication,
        RefreshTokenField,
        TimeoutSeconds is { } timeout ? TimeSpan.FromSeconds(timeout) : null,
        Name);
}
