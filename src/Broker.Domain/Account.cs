namespace Broker.Domain;

/// <summary>
/// One upstream user: its credentials and the single token set the broker holds for it. Every secret is stored
/// encrypted (the *Encrypted properties); the plaintext exists only in memory for an upstream call.
/// </summary>
public sealed class Account
{
    public Guid Id { get; set; }
    public required string Name { get; set; }
    public Guid ProviderId { get; set; }
    public Provider? Provider { get; set; }

    public string? Username { get; set; }
    public string? PasswordEncrypted { get; set; }
    public string? OrgName { get; set; }
    public string? ClientId { get; set; }
    public string? ClientSecretEncrypted { get; set; }
    public string? Scope { get; set; }

    public AccountState State { get; set; } = AccountState.Active;
    public string? LastError { get; set; }

    public string? AccessTokenEncrypted { get; set; }
    public string? TokenType { get; set; }
    public DateTimeOffset? AccessExpiresAt { get; set; }
    public string? RefreshTokenEncrypted { get; set; }
    public DateTimeOffset? RefreshExpiresAt { get; set; }
    public DateTimeOffset? TokensObtainedAt { get; set; }
    public DateTimeOffset? LastLoginAt { get; set; }
    public DateTimeOffset? LastRefreshedAt { get; set; }
    public DateTimeOffset? LastUsedAt { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    public StoredTokenState StoredTokens(Dialect dialect) => new(
        dialect, State, AccessTokenEncrypted is not null, AccessExpiresAt, RefreshTokenEncrypted is not null, RefreshExpiresAt);

    /// <summary>Forgets the token set (revocation, new credentials, rejected credentials).</summary>
    public void ClearTokens()
    {
        AccessTokenEncrypted = null;
        TokenType = null;
        AccessExpiresAt = null;
        RefreshTokenEncrypted = null;
        RefreshExpiresAt = null;
        TokensObtainedAt = null;
    }
}
