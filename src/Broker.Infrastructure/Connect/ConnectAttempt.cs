using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Broker.Infrastructure.Connect;

/// <summary>
/// One attempt to connect an account in a browser (oauth2-authorization-code). The state that authenticates the
/// callback is kept as its SHA-256 only; the PKCE verifier is encrypted and never leaves the broker.
/// </summary>
public sealed class ConnectAttempt
{
    public required byte[] StateHash { get; set; }
    public Guid AccountId { get; set; }
    /// <summary>The account's provider when the attempt began: an account moved since is not connected by it.</summary>
    public Guid ProviderId { get; set; }
    /// <summary>The <see cref="ConnectBinding"/> of account and provider when the attempt began (null: made before bindings).</summary>
    public byte[]? Binding { get; set; }
    public required string VerifierEncrypted { get; set; }
    public required string RedirectUri { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public DateTimeOffset? UsedAt { get; set; }
}

internal sealed class ConnectAttemptConfiguration : IEntityTypeConfiguration<ConnectAttempt>
{
    public void Configure(EntityTypeBuilder<ConnectAttempt> builder)
    {
        builder.ToTable("connect_attempts");
        builder.HasKey(a => a.StateHash);
        builder.Property(a => a.RedirectUri).HasMaxLength(Persistence.Limits.Url);
    }
}
