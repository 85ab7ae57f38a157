using Broker.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Broker.Infrastructure.Persistence;

internal sealed class ClientConfiguration : IEntityTypeConfiguration<Client>
{
    public void Configure(EntityTypeBuilder<Client> builder)
    {
        builder.ToTable("clients");
        builder.HasKey(c => c.Id);
        builder.HasIndex(c => c.Name).IsUnique().HasDatabaseName("clients_name_key");
        builder.HasIndex(c => c.KeyHash).IsUnique().HasDatabaseName("clients_key_hash_key");
        builder.Property(c => c.Name).HasMaxLength(Limits.Name);
        builder.Property(c => c.Role).HasConversion(EnumNames.ClientRole).HasMaxLength(20);
        builder.Property(c => c.KeyPrefix).HasMaxLength(16);
        builder.Property(c => c.PreviousKeyPrefix).HasMaxLength(16);
        builder.HasMany(c => c.Grants).WithOne().HasForeignKey(g => g.ClientId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class ClientGrantConfiguration : IEntityTypeConfiguration<ClientGrant>
{
    public void Configure(EntityTypeBuilder<ClientGrant> builder)
    {
        builder.ToTable("client_grants");
        builder.HasKey(g => g.Id);
        builder.HasOne(g => g.Account).WithMany().HasForeignKey(g => g.AccountId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne(g => g.Provider).WithMany().HasForeignKey(g => g.ProviderId).OnDelete(DeleteBehavior.Cascade);
    }
}
