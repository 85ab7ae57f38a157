using Broker.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Broker.Infrastructure.Persistence;

internal sealed class ProviderConfiguration : IEntityTypeConfiguration<Provider>
{
    public void Configure(EntityTypeBuilder<Provider> builder)
    {
        builder.ToTable("providers");
        builder.HasKey(p => p.Id);
        builder.HasIndex(p => p.Name).IsUnique().HasDatabaseName("providers_name_key");
        builder.Property(p => p.Name).HasMaxLength(Limits.Name);
        builder.Property(p => p.Dialect).HasConversion(EnumNames.Dialect).HasMaxLength(40);
        builder.Property(p => p.TokenUrl).HasMaxLength(Limits.Url);
        builder.Property(p => p.RefreshUrl).HasMaxLength(Limits.Url);
        builder.Property(p => p.AuthorizationUrl).HasMaxLength(Limits.Url);
        builder.Property(p => p.Issuer).HasMaxLength(Limits.Url);
        builder.Property(p => p.AuthorizationParameters).IsStringDictionaryInJsonb();
        builder.Property(p => p.ClientId).HasMaxLength(Limits.Identifier);
        builder.Property(p => p.ClientAuthentication).HasConversion(EnumNames.ClientAuthentication).HasMaxLength(10);
        builder.Property(p => p.RefreshTokenField).HasMaxLength(Limits.Name);
        builder.Property(p => p.Scope).HasMaxLength(Limits.Scope);
        builder.Ignore(p => p.RefreshReuseGrace);
    }
}
