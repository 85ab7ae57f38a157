using System.ComponentModel.DataAnnotations;

namespace Broker.Infrastructure.Upstream;

/// <summary>How the broker talks to upstream token endpoints (configuration section <c>Broker:Upstream</c>).</summary>
public sealed class UpstreamOptions
{
    public const string Section = "Broker:Upstream";

    /// <summary>
    /// How long one login or refresh may take, answer body included. The account's row lock is held across the
    /// call, so this must stay well below the database's <c>lock_timeout</c> and
    /// <c>idle_in_transaction_session_timeout</c> (DESIGN.md, "Lock lifetime covers the upstream call").
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:02:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Extra attempts of a login after a 5xx, 429, timeout or refused connection (exponential backoff with jitter).
    /// Refreshes are never retried: a refresh that timed out may have spent the token, so the next step is a login.
    /// </summary>
    [Range(0, 5)]
    public int LoginRetries { get; set; } = 1;

    /// <summary>The first retry's delay; each further retry waits about twice as long.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:30")]
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Share of failed calls to one provider, within <see cref="BreakerSamplingDuration"/>, that opens its circuit.</summary>
    [Range(0.01, 1.0)]
    public double BreakerFailureRatio { get; set; } = 0.5;

    /// <summary>Calls needed in the sampling window before the breaker may open.</summary>
    [Range(2, 1000)]
    public int BreakerMinimumThroughput { get; set; } = 4;

    [Range(typeof(TimeSpan), "00:00:00.500", "00:10:00")]
    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an open circuit answers 503 at once, before one trial call is let through.</summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "00:10:00")]
    public TimeSpan BreakerBreakDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The longest an upstream step may hold the account's row lock: every attempt and the waits between.</summary>
    public TimeSpan WorstCaseCall =>
        Timeout * (LoginRetries + 1) + RetryDelay * (Math.Pow(2, LoginRetries + 1) - 1) * 1.5 + Timeout; // + the refresh tried first
}
