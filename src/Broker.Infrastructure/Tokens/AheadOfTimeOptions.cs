using System.ComponentModel.DataAnnotations;

namespace Broker.Infrastructure.Tokens;

/// <summary>The background refresh of recently used accounts (section <c>Broker:AheadOfTime</c>).</summary>
public sealed class AheadOfTimeOptions
{
    public const string Section = "Broker:AheadOfTime";

    public bool Enabled { get; set; } = true;

    /// <summary>How often the loop looks for tokens to refresh.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Share of an access token's lifetime after which it is refreshed in the background.</summary>
    [Range(0.1, 0.99)]
    public double RefreshAt { get; set; } = 0.7;

    /// <summary>Up to this share of the lifetime earlier, fixed per account, so refreshes spread out.</summary>
    [Range(0.0, 0.5)]
    public double Jitter { get; set; } = 0.1;

    /// <summary>Accounts nobody fetched for this long are left alone: their tokens are renewed on demand.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan IdleWindow { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// Accounts refreshed at once by this instance. Each holds a pooled database connection and the account's row lock
    /// for its upstream call, so this stays well below the connection pool (Npgsql's Maximum Pool Size, 100 by default)
    /// to leave room for callers (docs/operations.md, "How many connections").
    /// </summary>
    [Range(1, 64)]
    public int Concurrency { get; set; } = 4;

    /// <summary>Refresh when the refresh token has less than this left, so the next fetch needs no login.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan RefreshTokenMargin { get; set; } = TimeSpan.FromMinutes(2);
}
