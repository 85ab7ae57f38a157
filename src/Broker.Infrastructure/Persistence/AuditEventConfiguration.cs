using Broker.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Broker.Infrastructure.Persistence;

internal sealed class AuditEventConfiguration : IEntityTypeConfiguration<AuditEvent>
{
    public void Configure(EntityTypeBuilder<AuditEvent> builder)
    {
        builder.ToTable("audit_events");
        builder.HasKey(e => e.Id);
        builder.Property(e => e.Id).UseIdentityByDefaultColumn();
        builder.Property(e => e.Action).HasMaxLength(40);
        builder.Property(e => e.Outcome).HasMaxLength(40);
        builder.Property(e => e.ClientName).HasMaxLength(Limits.Name);
        builder.Property(e => e.AccountName).HasMaxLength(Limits.Name);
        builder.Property(e => e.ProviderName).HasMaxLength(Limits.Name);
        builder.Property(e => e.Detail).HasMaxLength(Limits.Detail);
        builder.Property(e => e.RequestId).HasMaxLength(100);
        builder.Property(e => e.RemoteIp).HasMaxLength(64);
        builder.Property(e => e.TokenHmac).HasMaxLength(64);
        builder.Property(e => e.Identity).HasMaxLength(Limits.Identity);
    }
}

internal sealed class DataProtectionKeyRowConfiguration : IEntityTypeConfiguration<DataProtectionKeyRow>
{
    public void Configure(EntityTypeBuilder<DataProtectionKeyRow> builder)
    {
        builder.ToTable("data_protection_keys");
        builder.HasKey(k => k.Id);
        builder.Property(k => k.FriendlyName).HasMaxLength(200);
    }
}
