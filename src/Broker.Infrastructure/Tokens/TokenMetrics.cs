using System.Diagnostics.Metrics;

namespace Broker.Infrastructure.Tokens;

/// <summary>
/// The broker's metrics (System.Diagnostics.Metrics, meter "Broker"): readable by dotnet-counters or any
/// OpenTelemetry exporter without a dependency here.
/// </summary>
public static class TokenMetrics
{
    public const string MeterName = "Broker";
    private static readonly Meter Meter = new(MeterName);

    public static readonly Counter<long> TokensServed = Meter.CreateCounter<long>("broker.tokens.served", description: "Tokens handed to callers, tagged cache=hit|miss");
    public static readonly Counter<long> UpstreamCalls = Meter.CreateCounter<long>("broker.upstream.calls", description: "Upstream logins and refreshes by dialect, kind and outcome");
    public static readonly Histogram<double> UpstreamLatency = Meter.CreateHistogram<double>("broker.upstream.duration", "ms", "Upstream call latency");
    public static readonly Histogram<double> LockWait = Meter.CreateHistogram<double>("broker.lock.wait", "ms", "Time waiting for an account's row lock");

    /// <summary>Publishes the audit queue's depth (observed when a listener asks).</summary>
    public static void ObserveAuditQueue(Func<int> depth) =>
        Meter.CreateObservableGauge("broker.audit.queue.depth", depth, description: "Audit events waiting to be written");

    public static void RecordUpstreamCall(string dialect, string kind, string outcome, TimeSpan elapsed)
    {
        var tags = new KeyValuePair<string, object?>[] { new("dialect", dialect), new("kind", kind), new("outcome", outcome) };
        UpstreamCalls.Add(1, tags);
        UpstreamLatency.Record(elapsed.TotalMilliseconds, tags);
    }
}
