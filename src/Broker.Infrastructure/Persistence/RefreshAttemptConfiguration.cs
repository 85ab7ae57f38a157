using Broker.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Broker.Infrastructure.Persistence;

internal sealed class RefreshAttemptConfiguration : IEntityTypeConfiguration<RefreshAttempt>
{
    public void Configure(EntityTypeBuilder<RefreshAttempt> builder)
    {
        builder.ToTable("refresh_attempts");
        builder.HasKey(a => a.AccountId);
        builder.Property(a => a.TokenSha256).HasMaxLength(64).IsFixedLength();
    }
}
