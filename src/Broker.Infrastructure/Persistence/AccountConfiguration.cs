using Broker.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Broker.Infrastructure.Persistence;

internal sealed class AccountConfiguration : IEntityTypeConfiguration<Account>
{
    public void Configure(EntityTypeBuilder<Account> builder)
    {
        builder.ToTable("accounts");
        builder.HasKey(a => a.Id);
        builder.HasIndex(a => a.Name).IsUnique().HasDatabaseName("accounts_name_key");
        builder.HasIndex(a => a.ProviderId).HasDatabaseName("ix_accounts_provider_id");
        builder.HasOne(a => a.Provider).WithMany().HasForeignKey(a => a.ProviderId).OnDelete(DeleteBehavior.Restrict);
        builder.Property(a => a.Name).HasMaxLength(Limits.Name);
        builder.Property(a => a.Username).HasMaxLength(Limits.Identifier);
        builder.Property(a => a.OrgName).HasMaxLength(Limits.Identifier);
        builder.Property(a => a.ClientId).HasMaxLength(Limits.Identifier);
        builder.Property(a => a.Scope).HasMaxLength(Limits.Scope);
        builder.Property(a => a.State).HasConversion(EnumNames.AccountState).HasMaxLength(20);
        builder.Property(a => a.AttentionReason).HasConversion(EnumNames.AttentionReason).HasMaxLength(40);
        builder.Property(a => a.LastError).HasMaxLength(Limits.Detail);
        builder.Property(a => a.TokenType).HasMaxLength(40);
    }
}
