using System.ComponentModel.DataAnnotations;

namespace Broker.Infrastructure.Tokens;

/// <summary>How the broker decides a token is fresh enough, and how long it waits for the row lock.</summary>
public sealed class TokenOptions
{
    public const string Section = "Broker:Tokens";

    /// <summary>Margin for the upstream's clock not being ours: a token is treated as expiring this much earlier.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The min_validity used when a caller does not give one.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan DefaultMinValidity { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The largest min_validity a caller may ask for.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan MaxMinValidity { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// How long an instance serves a token from memory before it looks at the database again. A revocation or a
    /// reported rejection made through another instance arrives by notification; this bounds how long one goes
    /// unnoticed here should its notification be lost.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan MemoryCacheMaxAge { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A token obtained this recently is the best the upstream gives: it is served even when it is shorter-lived
    /// than the caller's min_validity, instead of refreshing again.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan FreshTokenWindow { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a fetch waits for another instance holding the account's row lock (PostgreSQL lock_timeout).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan LockTimeout { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>
    /// How long a stopping instance waits for the refreshes, logins and code exchanges it has sent (docs/operations.md,
    /// "Stopping"). Unset: 5 s above the longest upstream step (Broker:Upstream's worst case); set, it must be longer
    /// than that step, checked at start-up. The host's shutdown timeout is set 5 s above it.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan? DrainTimeout { get; set; }

    /// <summary>The drain time in force: <see cref="DrainTimeout"/>, or 5 s above <paramref name="longestUpstreamStep"/>.</summary>
    public TimeSpan DrainTimeoutFor(TimeSpan longestUpstreamStep) => DrainTimeout ?? longestUpstreamStep + TimeSpan.FromSeconds(5);

    /// <summary>
    /// Renewals (refreshes and logins, each holding a pooled connection and the account's row lock for its upstream call)
    /// this instance runs at once; callers beyond it wait in memory. 0: a third of the connection pool (Npgsql's
    /// <c>Maximum Pool Size</c>, 100 by default, so 33). Set, it must leave room in the pool: at most half of it, checked
    /// at start-up, since each renewal needs a second connection for a moment (docs/operations.md, "How many connections").
    /// </summary>
    [Range(0, 10_000)]
    public int MaxConcurrentRenewals { get; set; }

    /// <summary>The Retry-After given to callers when the upstream or the database is unavailable.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(5);
}
