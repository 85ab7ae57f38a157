using System.Security.Cryptography;
using System.Text;
using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Broker.Infrastructure.Webhooks;

/// <summary>
/// Finds accounts whose refresh token lapses within <see cref="WebhookOptions.RefreshExpiryWarning"/> and that the
/// broker cannot log in again by itself (<see cref="CredentialRules.CanLogIn"/>), and enqueues
/// <c>account.refresh_token_expiring</c> for them. Every instance scans; the event's id is derived from the account
/// and the refresh token's expiry, so the outbox's unique key makes it one delivery per webhook, however many scans
/// and instances find it. A new refresh token (a new expiry) is a new event.
/// </summary>
public sealed partial class RefreshExpiryScanner(
    IDbContextFactory<BrokerDbContext> contexts,
    IOptions<WebhookOptions> options,
    TimeProvider time,
    ILogger<RefreshExpiryScanner> logger) : PeriodicLoop(time, logger)
{
    protected override TimeSpan Interval => options.Value.ScanInterval;

    protected override async Task TickAsync(CancellationToken stoppingToken)
    {
        await ScanAsync(stoppingToken);
        await PruneAsync(stoppingToken);
    }

    protected override void TickFailed(Exception exception) => LogScanFailed(exception);

    /// <summary>One scan; returns how many deliveries it enqueued (0 for events enqueued before).</summary>
    public async Task<int> ScanAsync(CancellationToken ct)
    {
        var now = Clock.GetUtcNow();
        var until = now + options.Value.RefreshExpiryWarning;
        await using var db = await contexts.CreateDbContextAsync(ct);
        var webhooks = await db.Webhooks.AsNoTracking().Where(w => w.Events.Contains(WebhookEvents.RefreshTokenExpiring))
            .Select(w => w.Id).ToListAsync(ct);
        if (webhooks.Count == 0) return 0;

        var expiring = await db.Accounts.AsNoTracking().Include(a => a.Provider)
            .Where(a => a.State == AccountState.Active && a.RefreshTokenEncrypted != null && a.RefreshExpiresAt > now && a.RefreshExpiresAt <= until)
            .ToListAsync(ct);
        var enqueued = 0;
        foreach (var account in expiring.Where(a => !CredentialRules.CanLogIn(a, a.Provider!)))
        {
            var eventId = EventId(account.Id, account.RefreshExpiresAt!.Value);
            var payload = WebhookPayload.Build(eventId, WebhookEvents.RefreshTokenExpiring, now, account.Name, account.Provider!.Name,
                account.State, account.AttentionReason, account.LastError, account.RefreshExpiresAt);
            foreach (var webhook in webhooks)
            {
                enqueued += await db.Database.ExecuteSqlAsync(
                    $"""
                     INSERT INTO webhook_deliveries (id, webhook_id, event_id, event, payload, next_attempt_at, created_at)
                     VALUES ({Guid.CreateVersion7(now)}, {webhook}, {eventId}, {WebhookEvents.RefreshTokenExpiring}, {payload}::jsonb, {now}, {now})
                     ON CONFLICT (webhook_id, event_id) DO NOTHING
                     """, ct);
            }
        }
        if (enqueued > 0) await WebhookOutbox.NotifyAsync(db, ct);
        return enqueued;
    }

    /// <summary>
    /// Deletes delivered and failed deliveries older than <see cref="WebhookOptions.DeliveryRetention"/>, so the log
    /// stays bounded. (Here because this loop already runs on a slow clock on every instance; deleting twice is harmless.)
    /// </summary>
    public async Task<int> PruneAsync(CancellationToken ct)
    {
        var before = Clock.GetUtcNow() - options.Value.DeliveryRetention;
        await using var db = await contexts.CreateDbContextAsync(ct);
        return await db.WebhookDeliveries.Where(d => d.Status != WebhookDeliveryStatus.Pending && d.CreatedAt < before).ExecuteDeleteAsync(ct);
    }

    /// <summary>The same id for the same account and refresh token expiry, on every instance.</summary>
    public static Guid EventId(Guid account, DateTimeOffset refreshExpiresAt)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{WebhookEvents.RefreshTokenExpiring}:{account}:{refreshExpiresAt.UtcTicks}"));
        var bytes = hash.AsSpan(0, 16).ToArray();
        bytes[7] = (byte)((bytes[7] & 0x0F) | 0x80); // version 8: custom
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80); // RFC 9562 variant
        return new Guid(bytes);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Scan for expiring refresh tokens failed; the next interval tries again")]
    private partial void LogScanFailed(Exception exception);
}
