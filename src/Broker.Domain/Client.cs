namespace Broker.Domain;

/// <summary>A holder of an API key: a consuming service, or an admin.</summary>
public sealed class Client
{
    public Guid Id { get; set; }
    public required string Name { get; set; }
    public ClientRole Role { get; set; }
    /// <summary>SHA-256 of the API key; the key itself is shown once and never stored.</summary>
    public required byte[] KeyHash { get; set; }
    /// <summary>The first characters of the key, so people can tell keys apart without seeing them.</summary>
    public required string KeyPrefix { get; set; }
    public byte[]? PreviousKeyHash { get; set; }
    /// <summary>The rotated-out key's <see cref="KeyPrefix"/>, so the trail tells it apart while it is still accepted.</summary>
    public string? PreviousKeyPrefix { get; set; }
    public DateTimeOffset? PreviousKeyExpiresAt { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    public List<ClientGrant> Grants { get; set; } = [];
}

public enum ClientRole
{
    Consumer,
    Admin,
    /// <summary>A scraper's key: it reads <c>/metrics</c> and nothing else (no token, no admin API).</summary>
    Metrics,
}

public static class ClientRoleNames
{
    public static string ToName(this ClientRole role) => role switch
    {
        ClientRole.Admin => "admin",
        ClientRole.Metrics => "metrics",
        _ => "consumer",
    };

    public static ClientRole? TryParse(string? name) => name switch
    {
        "consumer" => ClientRole.Consumer,
        "admin" => ClientRole.Admin,
        "metrics" => ClientRole.Metrics,
        _ => null,
    };
}

/// <summary>Lets a client fetch the tokens of one account, or of every account of one provider.</summary>
public sealed class ClientGrant
{
    public Guid Id { get; set; }
    public Guid ClientId { get; set; }
    public Guid? AccountId { get; set; }
    public Account? Account { get; set; }
    public Guid? ProviderId { get; set; }
    public Provider? Provider { get; set; }
}
