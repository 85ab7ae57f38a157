using System.Text;
using Broker.Domain;
using Microsoft.EntityFrameworkCore;

namespace Broker.Infrastructure.Persistence;

public sealed class BrokerDbContext(DbContextOptions<BrokerDbContext> options) : DbContext(options)
{
    public DbSet<Provider> Providers => Set<Provider>();
    public DbSet<Account> Accounts => Set<Account>();
    public DbSet<RefreshAttempt> RefreshAttempts => Set<RefreshAttempt>();
    public DbSet<Client> Clients => Set<Client>();
    public DbSet<ClientGrant> ClientGrants => Set<ClientGrant>();
    public DbSet<AuditEvent> AuditEvents => Set<AuditEvent>();
    public DbSet<DataProtectionKeyRow> DataProtectionKeys => Set<DataProtectionKeyRow>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(BrokerDbContext).Assembly);

        // The schema is written by hand in migrations/ in snake_case; name every column to match.
        foreach (var entity in modelBuilder.Model.GetEntityTypes())
        foreach (var property in entity.GetProperties())
            property.SetColumnName(ToSnakeCase(property.Name));
    }

    internal static string ToSnakeCase(string name)
    {
        var builder = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0) builder.Append('_');
            builder.Append(char.ToLowerInvariant(name[i]));
        }
        return builder.ToString();
    }
}
