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
}
