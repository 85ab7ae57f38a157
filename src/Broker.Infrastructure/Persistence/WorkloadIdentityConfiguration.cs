using System.Text.Json;
using Broker.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Broker.Infrastructure.Persistence;

internal sealed class TrustedIssuerConfiguration : IEntityTypeConfiguration<TrustedIssuer>
{
    public void Configure(EntityTypeBuilder<TrustedIssuer> builder)
    {
        builder.ToTable("issuers");
        builder.HasKey(i => i.Id);
        builder.HasIndex(i => i.Name).IsUnique().HasDatabaseName("issuers_name_key");
        builder.HasIndex(i => i.Issuer).IsUnique().HasDatabaseName("issuers_issuer_key");
        builder.Property(i => i.Name).HasMaxLength(Limits.Name);
        builder.Property(i => i.Issuer).HasMaxLength(Limits.Url);
        builder.Property(i => i.Audience).HasMaxLength(WorkloadIdentityLimits.Audience);
        builder.Property(i => i.JwksUri).HasMaxLength(Limits.Url);
        builder.Property(i => i.TokenType).HasMaxLength(Limits.Name);
        builder.Property(i => i.Kind).HasConversion(EnumNames.IssuerKind).HasMaxLength(20);
    }
}

internal sealed class IdentityBindingConfiguration : IEntityTypeConfiguration<IdentityBinding>
{
    public void Configure(EntityTypeBuilder<IdentityBinding> builder)
    {
        builder.ToTable("identity_bindings");
        builder.HasKey(b => b.Id);
        builder.HasIndex(b => b.ClientId).HasDatabaseName("ix_identity_bindings_client_id");
        builder.HasIndex(b => b.IssuerId).HasDatabaseName("ix_identity_bindings_issuer_id");
        builder.Property(b => b.Subject).HasMaxLength(WorkloadIdentityLimits.Subject);
        builder.HasOne<Client>().WithMany().HasForeignKey(b => b.ClientId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<TrustedIssuer>().WithMany().HasForeignKey(b => b.IssuerId).OnDelete(DeleteBehavior.Cascade);
        builder.Property(b => b.Claims).IsStringDictionaryInJsonb();
        builder.Property(b => b.CertificateField).HasConversion(EnumNames.CertificateField).HasMaxLength(20);
    }
}

internal static class StringDictionaryInJsonb
{
    /// <summary>A string → string map stored as a jsonb object, compared by content so that EF sees changes.</summary>
    public static PropertyBuilder<Dictionary<string, string>?> IsStringDictionaryInJsonb(this PropertyBuilder<Dictionary<string, string>?> property) =>
        property.HasColumnType("jsonb").HasConversion(
            v => v == null ? null : JsonSerializer.Serialize(v, (JsonSerializerOptions?)null),
            v => v == null ? null : JsonSerializer.Deserialize<Dictionary<string, string>>(v, (JsonSerializerOptions?)null),
            new ValueComparer<Dictionary<string, string>?>(
                (a, b) => a == null ? b == null : b != null && a.Count == b.Count && !a.Except(b).Any(),
                v => v == null ? 0 : v.Count,
                v => v == null ? null : new Dictionary<string, string>(v)));
}

public static class WorkloadIdentityLimits
{
    public const int Audience = 400;
    public const int Subject = 400;
    public const int Claims = 10;
    public const int Jwks = 64_000;
    /// <summary>An X.509 issuer's PEM certificates: room for a trust bundle of a dozen CAs.</summary>
    public const int Certificates = 64_000;
}
