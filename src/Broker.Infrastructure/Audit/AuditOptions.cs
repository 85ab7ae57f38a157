using System.ComponentModel.DataAnnotations;

namespace Broker.Infrastructure.Audit;

public sealed class AuditOptions
{
    public const string Section = "Broker:Audit";

    /// <summary>Events waiting for the batch writer. When full, further events are counted and logged as lost.</summary>
    [Range(100, 10_000_000)]
    public int QueueCapacity { get; set; } = 100_000;

    /// <summary>The most events written by one COPY.</summary>
    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 5_000;

    /// <summary>
    /// How long the writer lets events gather before a COPY that would not fill a batch: under steady load one
    /// transaction per interval instead of one per handful of requests.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:10")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// How long served tokens are counted in memory before their rollups are written (one row per client, account,
    /// token, address and hit/miss). A crash loses at most this window's counts; a longer one writes fewer rows.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan RollupWindow { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The period served-token rollups merge into: each window's counts are added to the period's one row per (client,
    /// account, token, address, hit/miss), so the trail grows with distinct facts per period, not with windows or
    /// instances. Periods are aligned on UTC multiples of their length. A usage report attributes a row to its last
    /// fetch, so its time ranges are exact to this period; a longer one (an hour) writes fewer rows.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan RollupPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The most distinct rollups one window holds; beyond it a served token is written as a row of its own, so the
    /// memory stays bounded and nothing is lost.
    /// </summary>
    [Range(1, 10_000_000)]
    public int MaxRollupKeys { get; set; } = 100_000;

    /// <summary>Events older than this many days are deleted by the retention job.</summary>
    [Range(1, 36_500)]
    public int RetentionDays { get; set; } = 400;

    /// <summary>How often the retention job looks for old events (it also runs once at start-up).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "7.00:00:00")]
    public TimeSpan RetentionInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Rows deleted per transaction by the retention job, so it never holds long locks.</summary>
    [Range(1, 100_000)]
    public int RetentionBatchSize { get; set; } = 5_000;

    /// <summary>The longest time range one audit query or usage report may cover.</summary>
    [Range(typeof(TimeSpan), "1.00:00:00", "3660.00:00:00")]
    public TimeSpan MaxReportSpan { get; set; } = TimeSpan.FromDays(366);

    /// <summary>
    /// Base64 of at least 32 random bytes: the key of the HMAC that stands for tokens in the trail. When unset it
    /// is derived from the key-encryption key, so it changes when that key is rotated; set it to keep hashes
    /// comparable across rotations.
    /// </summary>
    public string? HmacKey { get; set; }
}
