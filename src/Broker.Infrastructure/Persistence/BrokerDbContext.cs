using System.Text;
using Broker.Domain;
using Broker.Infrastructure.Webhooks;
using Microsoft.EntityFrameworkCore;

namespace Broker.Infrastructure.Persistence;

public sealed class BrokerDbContext : DbContext
{
    public BrokerDbContext(DbContextOptions<BrokerDbContext> options) : base(options)
    {
        // EF Core wraps a SaveChanges inside a transaction in a savepoint, two more round trips, so that a failed save
        // could be retried in the same transaction. Nothing here does that: a failed save fails its transaction. A
        // refresh holds the account's row lock across those round trips. (A pooled context keeps what its
        // constructor set.)
        Database.AutoSavepointsEnabled = false;
    }

    public DbSet<Provider> Providers => Set<Provider>();
    public DbSet<Account> Accounts => Set<Account>();
    public DbSet<RefreshAttempt> RefreshAttempts => Set<RefreshAttempt>();
    public DbSet<Client> Clients => Set<Client>();
    public DbSet<ClientGrant> ClientGrants => Set<ClientGrant>();
    public DbSet<TrustedIssuer> Issuers => Set<TrustedIssuer>();
    public DbSet<IdentityBinding> IdentityBindings => Set<IdentityBinding>();
    public DbSet<AuditEvent> AuditEvents => Set<AuditEvent>();
    public DbSet<Connect.ConnectAttempt> ConnectAttempts => Set<Connect.ConnectAttempt>();
    public DbSet<Webhook> Webhooks => Set<Webhook>();
    public DbSet<WebhookDelivery> WebhookDeliveries => Set<WebhookDelivery>();

    /// <summary>
    /// Saves, with the webhook events of the accounts whose state changed written in the same transaction
    /// (<see cref="WebhookOutbox"/>); the dispatchers are woken when it commits.
    /// </summary>
    public override async Task<int> SaveChangesAsync(bool acceptAllChangesOnSuccess, CancellationToken cancellationToken = default)
    {
        if (!await WebhookOutbox.EnqueueStateChangesAsync(this, cancellationToken))
            return await base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
        if (Database.CurrentTransaction is not null)
        {
            await WebhookOutbox.NotifyAsync(this, cancellationToken);
            return await base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
        }
        // A transaction of its own, so the notification cannot fail after the change was committed.
        await using var tx = await Database.BeginTransactionAsync(cancellationToken);
        await WebhookOutbox.NotifyAsync(this, cancellationToken);
        var saved = await base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return saved;
    }

    /// <summary>Every save is asynchronous; a synchronous one would skip the webhook events, so there is none.</summary>
    public override int SaveChanges(bool acceptAllChangesOnSuccess) =>
        throw new NotSupportedException("Use SaveChangesAsync: it writes the webhook events of account state changes.");

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
