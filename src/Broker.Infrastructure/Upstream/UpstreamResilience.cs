using System.Collections.Concurrent;
using Broker.Domain;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Broker.Infrastructure.Upstream;

/// <summary>
/// Polly around upstream calls: retries with backoff and jitter for logins that hit a 5xx, 429, timeout or
/// refused connection (never for a 4xx, never for a refresh), and one circuit breaker per provider that turns a
/// dead upstream into fast 503s with Retry-After instead of a queue of callers waiting for timeouts.
/// </summary>
public sealed class UpstreamResilience
{
    private readonly ConcurrentDictionary<Guid, Circuit> _circuits = new();
    private readonly ResiliencePipeline<UpstreamOutcome> _loginRetry;
    private readonly UpstreamOptions _options;
    private readonly TimeProvider _time;

    public UpstreamResilience(TimeProvider time, IOptions<UpstreamOptions> options)
    {
        _time = time;
        _options = options.Value;
        _loginRetry = new ResiliencePipelineBuilder<UpstreamOutcome> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<UpstreamOutcome>
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is UpstreamOutcome.Unavailable),
                MaxRetryAttempts = Math.Max(1, _options.LoginRetries),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _options.RetryDelay,
            })
            .Build();
    }

    public Task<UpstreamOutcome> LogInAsync(Guid providerId, string providerName, Func<CancellationToken, Task<UpstreamOutcome>> call, CancellationToken ct) =>
        _options.LoginRetries == 0
            ? ThroughBreakerAsync(providerId, providerName, call, ct)
            : _loginRetry.ExecuteAsync(async token => await ThroughBreakerAsync(providerId, providerName, call, token), ct).AsTask();

    public Task<UpstreamOutcome> RefreshAsync(Guid providerId, string providerName, Func<CancellationToken, Task<UpstreamOutcome>> call, CancellationToken ct) =>
        ThroughBreakerAsync(providerId, providerName, call, ct);

    /// <summary>Each provider's circuit, by the provider's latest name, for the metrics (reads a field, takes no lock).</summary>
    public IEnumerable<(string Provider, CircuitState State)> CircuitStates() =>
        _circuits.Values.Select(c => (c.Name, c.State.CircuitState));

    private async Task<UpstreamOutcome> ThroughBreakerAsync(Guid providerId, string providerName, Func<CancellationToken, Task<UpstreamOutcome>> call, CancellationToken ct)
    {
        var circuit = _circuits.GetOrAdd(providerId, static (_, self) => new Circuit(self.NewBreaker), this);
        circuit.Name = providerName; // a renamed provider keeps its circuit; the metric follows the name
        try
        {
            return await circuit.Pipeline.ExecuteAsync(async token => await call(token), ct);
        }
        catch (BrokenCircuitException open)
        {
            return new UpstreamOutcome.Unavailable(null, "the upstream failed repeatedly; calls are paused (circuit open)",
                RetryAfter: open.RetryAfter ?? _options.BreakerBreakDuration);
        }
    }

    private ResiliencePipeline<UpstreamOutcome> NewBreaker(CircuitBreakerStateProvider state) =>
        new ResiliencePipelineBuilder<UpstreamOutcome> { TimeProvider = _time }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<UpstreamOutcome>
            {
                StateProvider = state,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is UpstreamOutcome.Unavailable),
                FailureRatio = _options.BreakerFailureRatio,
                MinimumThroughput = _options.BreakerMinimumThroughput,
                SamplingDuration = _options.BreakerSamplingDuration,
                BreakDuration = _options.BreakerBreakDuration,
            })
            .Build();

    /// <summary>One provider's breaker and the handle that reads its state.</summary>
    private sealed class Circuit
    {
        public Circuit(Func<CircuitBreakerStateProvider, ResiliencePipeline<UpstreamOutcome>> build) => Pipeline = build(State);

        public CircuitBreakerStateProvider State { get; } = new();
        public ResiliencePipeline<UpstreamOutcome> Pipeline { get; }
        public volatile string Name = "";
    }
}
