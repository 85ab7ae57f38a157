using System.Diagnostics;
using System.Diagnostics.Metrics;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Upstream;
using Polly.CircuitBreaker;

namespace Broker.Infrastructure.Observability;

/// <summary>
/// The broker's metrics: the meter "Broker", created through the host's <see cref="IMeterFactory"/> (so each host,
/// and each test's host, has its own) and every instrument on it. Names follow OpenTelemetry's conventions; the
/// Prometheus exporter writes them with underscores, units and <c>_total</c> (docs/operations.md, "Metrics and
/// traces"). No tag carries a token, key or secret: only dialects, kinds, outcomes, states and provider names.
/// </summary>
public sealed class BrokerMetrics
{
    public const string MeterName = "Broker";

    // Seconds, from a few milliseconds (a lock nobody held) to the longest upstream call with its retries.
    private static readonly InstrumentAdvice<double> Durations = new()
    {
        HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    };

    private readonly Counter<long> _tokensServed;
    private readonly Counter<long> _upstreamCalls;
    private readonly Histogram<double> _upstreamDuration;
    private readonly Histogram<double> _lockWait;

    public BrokerMetrics(IMeterFactory meters, AuditQueue auditQueue, AuditWriter auditWriter, AccountStateCounts accountStates,
        UpstreamResilience resilience)
    {
        var meter = meters.Create(MeterName);
        _tokensServed = meter.CreateCounter<long>("broker.tokens.served", "{token}", "Tokens handed to callers, tagged cache=hit|miss");
        _upstreamCalls = meter.CreateCounter<long>("broker.upstream.calls", "{call}", "Upstream logins and refreshes by dialect, kind and outcome");
        _upstreamDuration = meter.CreateHistogram<double>("broker.upstream.duration", "s",
            "Upstream call duration (a login with its retries), by dialect, kind and outcome", advice: Durations);
        _lockWait = meter.CreateHistogram<double>("broker.lock.wait", "s", "Time waiting for an account's row lock",
            advice: Durations);

        meter.CreateObservableGauge("broker.audit.queue.depth", () => auditQueue.Depth, "{event}", "Audit events waiting to be written");
        meter.CreateObservableCounter("broker.audit.dropped", () => auditQueue.DroppedTotal, "{event}",
            "Audit events lost because the queue was full (each loss is recorded as audit.overflow)");
        meter.CreateObservableCounter("broker.audit.rejected", () => auditWriter.Rejected, "{event}",
            "Audit events the database refused and the writer set aside (recorded as audit.rejected)");
        meter.CreateObservableGauge("broker.accounts", () => accountStates.Current.Select(s =>
            new Measurement<long>(s.Count, new KeyValuePair<string, object?>("state", s.State))), "{account}",
            "Accounts by state (needs_attention, inactive), counted at most every 30 s");
        meter.CreateObservableGauge("broker.upstream.circuit.state", () => resilience.CircuitStates().Select(c =>
            new Measurement<int>(CircuitValue(c.State), new KeyValuePair<string, object?>("provider", c.Provider))), null,
            "Per provider: 0 closed, 1 half-open (probing), 2 open (calls paused)");
    }

    public void TokenServed(bool fromCache) => _tokensServed.Add(1, new KeyValuePair<string, object?>("cache", fromCache ? "hit" : "miss"));

    public void UpstreamCall(string dialect, string kind, string outcome, TimeSpan elapsed)
    {
        var tags = new TagList { { "dialect", dialect }, { "kind", kind }, { "outcome", outcome } };
        _upstreamCalls.Add(1, tags);
        _upstreamDuration.Record(elapsed.TotalSeconds, tags);
    }

    public void LockWaited(TimeSpan elapsed) => _lockWait.Record(elapsed.TotalSeconds);

    private static int CircuitValue(CircuitState state) => state switch
    {
        CircuitState.Closed => 0,
        CircuitState.HalfOpen => 1,
        _ => 2, // open, or isolated by hand
    };
}
