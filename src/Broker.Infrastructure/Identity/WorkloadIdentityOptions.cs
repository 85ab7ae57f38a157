using System.ComponentModel.DataAnnotations;

namespace Broker.Infrastructure.Identity;

/// <summary>How workload identity tokens are checked (section <c>Broker:WorkloadIdentity</c>; docs/configuration.md).</summary>
public sealed class WorkloadIdentityOptions
{
    public const string Section = "Broker:WorkloadIdentity";

    /// <summary>Margin for the issuer's clock not being ours, on <c>exp</c>, <c>nbf</c> and <c>iat</c>.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:05:00")]
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Signature checks of tokens not validated before, per second per instance (sustained), and the burst above it:
    /// a flood of made-up tokens costs at most this much CPU. A token validated once is served from memory until its
    /// <c>exp</c>, so only new tokens count.
    /// </summary>
    [Range(1, 100_000)]
    public int SignatureChecksPerSecond { get; set; } = 200;

    [Range(1, 100_000)]
    public int SignatureCheckBurst { get; set; } = 400;

    /// <summary>How long an issuer's fetched keys are used before they are fetched again.</summary>
    [Range(typeof(TimeSpan), "00:00:10", "1.00:00:00")]
    public TimeSpan KeysRefreshInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// A token naming a key (<c>kid</c>) the broker does not have makes it fetch the issuer's keys again (a rotation),
    /// at most once per this interval per issuer: a storm of unknown <c>kid</c>s costs one fetch per interval.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan KeysRefetchInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How many validated tokens are kept in memory (a full cache starts over).</summary>
    [Range(100, 10_000_000)]
    public int MaxCachedTokens { get; set; } = 100_000;
}
