using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;

namespace Broker.Infrastructure.Webhooks;

/// <summary>
/// Turns the account state changes a unit of work is about to save into outbox rows of the same unit of work, one
/// per (event, subscribed webhook): an event is written if and only if its change is committed. Every state change
/// goes through <see cref="Account"/>'s methods and EF's SaveChanges, so this one place sees them all.
/// </summary>
public static class WebhookOutbox
{
    /// <summary>Adds the outbox rows for the tracked accounts whose state changed; whether it added any.</summary>
    public static async Task<bool> EnqueueStateChangesAsync(BrokerDbContext db, CancellationToken ct)
    {
        db.ChangeTracker.DetectChanges();
        var changes = db.ChangeTracker.Entries<Account>()
            .Where(e => e.State == EntityState.Modified)
            .Select(e => (Account: e.Entity, Event: WebhookEvents.ForStateChange(e.Property(a => a.State).OriginalValue, e.Entity.State)))
            .Where(c => c.Event is not null)
            .ToList();
        if (changes.Count == 0) return false;

        var webhooks = await db.Webhooks.AsNoTracking().Select(w => new { w.Id, w.Events }).ToListAsync(ct);
        var added = false;
        foreach (var (account, type) in changes)
        {
            var subscribed = webhooks.Where(w => w.Events.Contains(type!)).ToList();
            if (subscribed.Count == 0) continue;
            var provider = account.Provider?.Name ?? db.Providers.Local.FirstOrDefault(p => p.Id == account.ProviderId)?.Name
                ?? await db.Providers.Where(p => p.Id == account.ProviderId).Select(p => p.Name).FirstAsync(ct);
            var at = account.UpdatedAt;
            var eventId = Guid.CreateVersion7(at);
            var payload = WebhookPayload.Build(eventId, type!, at, account.Name, provider, account.State, account.AttentionReason, account.LastError);
            foreach (var webhook in subscribed)
            {
                db.WebhookDeliveries.Add(new WebhookDelivery
                {
                    Id = Guid.CreateVersion7(at), WebhookId = webhook.Id, EventId = eventId, Event = type!, Payload = payload,
                    NextAttemptAt = at, CreatedAt = at,
                });
                added = true;
            }
        }
        return added;
    }

    /// <summary>
    /// Wakes every instance's dispatcher through the change feed: a feed row in the event's own transaction, so it is
    /// there if and only if the event is.
    /// </summary>
    public static Task NotifyAsync(BrokerDbContext db, CancellationToken ct) =>
        db.Database.ExecuteSqlRawAsync(ChangeFeed.WebhookEventsSql, ct);
}
