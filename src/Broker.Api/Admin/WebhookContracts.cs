using System.Text.Json.Serialization;
using Broker.Domain;

namespace Broker.Api.Admin;

/// <summary>A webhook: where the broker posts events about accounts that need a person (docs/webhooks.md).</summary>
/// <param name="Url">Where events are posted: https (plain http only where Broker:Webhooks:AllowPlainHttp allows), to a public
/// address unless Broker:Upstream:AllowedNetworks allows its network.</param>
/// <param name="Events">The events to send: account.needs_attention, account.inactive, account.recovered, account.refresh_token_expiring.</param>
/// <param name="Secret">The signing secret (at least 16 characters), write-only. Left out on create, the broker makes one and
/// shows it in the answer, once.</param>
/// <param name="Description">What the webhook is for, for people.</param>
public sealed record WebhookRequest(string? Url, List<string>? Events, string? Secret = null, string? Description = null);

/// <summary>Fields left out (null) stay as they are; "" removes the description.</summary>
/// <param name="Url">A new URL, under the same rules as on create.</param>
/// <param name="Events">The events to send, replacing the current list.</param>
/// <param name="Secret">A new signing secret (at least 16 characters): deliveries are signed with it from now on.</param>
/// <param name="Description">What the webhook is for.</param>
public sealed record WebhookPatch(string? Url = null, List<string>? Events = null, string? Secret = null, string? Description = null);

/// <summary>A webhook as admins see it: never its secret, but once, in the answer that made it.</summary>
/// <param name="Id">The webhook's id, in its URL.</param>
/// <param name="Url">Where events are posted.</param>
/// <param name="Events">The events it is sent.</param>
/// <param name="Description">What it is for.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="UpdatedAt">When it last changed.</param>
/// <param name="Secret">The signing secret the broker made, present only in the answer that created the webhook: store it now.</param>
public sealed record WebhookResponse(
    Guid Id,
    string Url,
    IReadOnlyList<string> Events,
    string? Description,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Secret = null)
{
    public static WebhookResponse From(Webhook w, string? secret = null) =>
        new(w.Id, w.Url, w.Events, w.Description, w.CreatedAt, w.UpdatedAt, secret);

    public override string ToString() => $"WebhookResponse {{ Id = {Id} }}";
}

/// <summary>One event for one webhook and what became of it. Never the body, a signature or the secret.</summary>
/// <param name="Id">The delivery's id; pass the last one as before= for the next page.</param>
/// <param name="EventId">The event's id, sent as Broker-Event-Id (the same for every webhook the event goes to).</param>
/// <param name="Event">The event's type.</param>
/// <param name="Status">pending (to be sent, or retried at next_attempt_at), delivered, or failed (given up).</param>
/// <param name="Attempts">How many times it was sent.</param>
/// <param name="LastStatusCode">The HTTP status of the last answer, if there was one.</param>
/// <param name="LastError">Why the last attempt failed.</param>
/// <param name="CreatedAt">When the event happened.</param>
/// <param name="NextAttemptAt">When it is sent next (pending only).</param>
/// <param name="DeliveredAt">When the receiver took it.</param>
public sealed record WebhookDeliveryItem(
    Guid Id,
    Guid EventId,
    string Event,
    string Status,
    int Attempts,
    int? LastStatusCode,
    string? LastError,
    DateTimeOffset CreatedAt,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset? DeliveredAt)
{
    public static WebhookDeliveryItem From(WebhookDelivery d) => new(d.Id, d.EventId, d.Event, d.Status, d.Attempts, d.LastStatusCode,
        d.LastError, d.CreatedAt, d.Status == WebhookDeliveryStatus.Pending ? d.NextAttemptAt : null, d.DeliveredAt);
}

/// <summary>A page of deliveries, newest first.</summary>
/// <param name="Items">The deliveries.</param>
/// <param name="Next">Pass as before= for the next (older) page; null on the last page.</param>
public sealed record WebhookDeliveryPage(IReadOnlyList<WebhookDeliveryItem> Items, Guid? Next);
