namespace Broker.Domain;

/// <summary>An admin's endpoint that hears about accounts needing a person (docs/webhooks.md).</summary>
public sealed class Webhook
{
    public Guid Id { get; set; }
    public required string Url { get; set; }

    /// <summary>The signing secret, encrypted; never shown after the answer that made it.</summary>
    public required string SecretEncrypted { get; set; }

    /// <summary>The <see cref="WebhookEvents"/> names it is sent.</summary>
    public List<string> Events { get; set; } = [];

    public string? Description { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}
