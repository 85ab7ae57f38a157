using System.ComponentModel.DataAnnotations;

namespace Broker.Infrastructure.Persistence;

/// <summary>The change feed's timing (docs/configuration.md, <c>Broker:Changes</c>).</summary>
public sealed class ChangeFeedOptions : IValidatableObject
{
    public const string Section = "Broker:Changes";

    /// <summary>How often the feed is read when no hint comes sooner: the longest a change takes to reach an instance.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:00:05")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// How long an instance that cannot read the feed keeps trusting its key directory and token cache. Past it,
    /// every request that needs a key is answered 503 rather than risk serving a key revoked meanwhile.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan StaleAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long feed rows are kept; older ones are pruned by any instance.</summary>
    [Range(typeof(TimeSpan), "00:10:00", "7.00:00:00")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// LISTEN for a hint that a change was written, so it is read at once instead of at the next poll. Harmless
    /// but useless through a transaction pooler (PgBouncer does not carry LISTEN); correctness never depends on it.
    /// </summary>
    public bool Listen { get; set; } = true;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (StaleAfter < PollInterval * 4)
            yield return new ValidationResult(
                $"Broker:Changes:StaleAfter ({StaleAfter}) must be at least four PollIntervals ({PollInterval * 4}): one slow read must not make an instance refuse every key.",
                [nameof(StaleAfter)]);
    }
}
