namespace Broker.Domain;

/// <summary>
/// One event for one webhook, in the outbox: written in the transaction that made the event, then sent until the
/// receiver answers 2xx or the broker gives up.
/// </summary>
public sealed class WebhookDelivery
{
    public Guid Id { get; set; }
    public Guid WebhookId { get; set; }

    /// <summary>The event's id, the same for every webhook it goes to; a receiver de-duplicates on it.</summary>
    public Guid EventId { get; set; }

    public required string Event { get; set; }

    /// <summary>The JSON body sent, as stored (jsonb): never a token or secret.</summary>
    public required string Payload { get; set; }

    public string Status { get; set; } = WebhookDeliveryStatus.Pending;
    public int Attempts { get; set; }
    public DateTimeOffset NextAttemptAt { get; set; }
    public int? LastStatusCode { get; set; }
    public string? LastError { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? DeliveredAt { get; set; }
}

public static class WebhookDeliveryStatus
{
    public const string Pending = "pending";
    public const string Delivered = "delivered";

    /// <summary>Given up: too many attempts, too old, or a destination the broker may not call.</summary>
    public const string Failed = "failed";
}
