
namespace Broker.Api.Hosting;

/// <summary>The Prometheus scrape endpoint <c>/metrics</c> (docs/operations.md, "Metrics and traces").</summary>
public sealed class PrometheusOptions
{
    public const string Section = "Broker:Metrics:Prometheus";

    /// <summary>Serve <c>/metrics</c>. Off by default: an instance publishes nothing it was not asked to.</summary>
    public bool Enabled { get; set; }

    /// <summary>
    /// Serve <c>/metrics</c> without a key (for a scraper on a private network). By default it takes an admin key,
    /// like the rest of what describes the broker's state.
    /// </summary>
    public bool AllowAnonymous { get; set; }
}
