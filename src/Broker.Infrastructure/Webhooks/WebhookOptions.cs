using System.ComponentModel.DataAnnotations;

namespace Broker.Infrastructure.Webhooks;

/// <summary>How webhook events are found and delivered (configuration section <c>Broker:Webhooks</c>; docs/webhooks.md).</summary>
public sealed class WebhookOptions : IValidatableObject
{
    public const string Section = "Broker:Webhooks";

    /// <summary>
    /// Whether webhook URLs may be plain http. Otherwise https is required, when an admin writes the URL and again
    /// before each delivery. Where the broker may connect follows <c>Broker:Upstream:AllowedNetworks</c>.
    /// </summary>
    public bool AllowPlainHttp { get; set; }

    /// <summary>
    /// How long before an account's refresh token lapses <c>account.refresh_token_expiring</c> is sent, for an
    /// account the broker cannot log in again by itself.
    /// </summary>
    [Range(typeof(TimeSpan), "00:01:00", "90.00:00:00")]
    public TimeSpan RefreshExpiryWarning { get; set; } = TimeSpan.FromDays(3);

    /// <summary>How often each instance looks for refresh tokens about to lapse.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan ScanInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How often each instance looks for due deliveries (retries) without being woken: a new event wakes every
    /// instance at once by notification, so this bounds only retries and lost notifications.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one delivery may take until the receiver's answer headers; longer is a failed attempt.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How many deliveries one instance sends to one host (host and port) at a time. Deliveries to other hosts do
    /// not wait for these, so a slow receiver delays only its own.
    /// </summary>
    [Range(1, 64)]
    public int ConcurrencyPerHost { get; set; } = 4;

    /// <summary>The cap of the first retry's delay; each further retry's cap doubles, up to <see cref="RetryMax"/> (full jitter below the cap).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan RetryBase { get; set; } = TimeSpan.FromSeconds(5);

    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan RetryMax { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Attempts after which a delivery is given up (status failed).</summary>
    [Range(1, 1000)]
    public int MaxAttempts { get; set; } = 25;

    /// <summary>Age after which a delivery that still fails is given up (status failed).</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(3);

    /// <summary>
    /// How long delivered and failed deliveries stay in the log (pruned at each scan). Longer than
    /// <see cref="RefreshExpiryWarning"/>, so a refresh token's warning is not sent again once its row is pruned.
    /// </summary>
    [Range(typeof(TimeSpan), "1.00:00:00", "3650.00:00:00")]
    public TimeSpan DeliveryRetention { get; set; } = TimeSpan.FromDays(30);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (DeliveryRetention <= RefreshExpiryWarning)
            yield return new ValidationResult("Broker:Webhooks:DeliveryRetention must be longer than RefreshExpiryWarning.", [nameof(DeliveryRetention)]);
        if (RetryMax < RetryBase)
            yield return new ValidationResult("Broker:Webhooks:RetryMax must be at least RetryBase.", [nameof(RetryMax)]);
    }
}
