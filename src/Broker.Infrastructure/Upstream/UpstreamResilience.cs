using System.Collections.Concurrent;
using Broker.Domain;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Registry;
using Polly.Retry;

namespace Broker.Infrastructure.Upstream;

/// <summary>
/// Polly around upstream calls: retries with backoff and jitter for logins that hit a 5xx, 429, timeout or
/// refused connection (never for a 4xx, never for a refresh), and one circuit breaker per provider that turns a
/// dead upstream into fast 503s with Retry-After instead of a queue of callers waiting for timeouts.
/// </summary>
/// <remarks>
/// An open circuit ends a login at once: retrying it would only wait out backoffs with the account's row lock held.
/// </remarks>
public sealed class UpstreamResilience : IDisposable
{
    // The registry builds each provider's breaker once, on its first call, and disposes them with the host.
    private readonly ResiliencePipelineRegistry<Guid> _breakers = new();
    // What the registry does not offer: a list of its pipelines. The gauge reads the states kept here, which the
    // breakers' own events write (a state provider could not be shared: the registry may build a pipeline twice
    // in a race and keep one).
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
                // An open circuit is an exception here, not an outcome, so it is never handled, never retried.
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
            : UnlessOpenAsync(() => _loginRetry.ExecuteAsync(
                async token => await Breaker(providerId, providerName).ExecuteAsync(async t => await call(t), token), ct));

    /// <summary>Once through the breaker: a refresh is never replayed (see <see cref="UpstreamClient"/>).</summary>
    public Task<UpstreamOutcome> RefreshAsync(Guid providerId, string providerName, Func<CancellationToken, Task<UpstreamOutcome>> call, CancellationToken ct) =>
        ThroughBreakerAsync(providerId, providerName, call, ct);

    /// <summary>Each provider's circuit, by the provider's latest name, for the metrics (reads a field, takes no lock).</summary>
    public IEnumerable<(string Provider, CircuitState State)> CircuitStates() =>
        _circuits.Values.Select(c => (c.Name, c.State));

    public void Dispose() => _breakers.Dispose();

    private Task<UpstreamOutcome> ThroughBreakerAsync(Guid providerId, string providerName, Func<CancellationToken, Task<UpstreamOutcome>> call, CancellationToken ct) =>
        UnlessOpenAsync(() => Breaker(providerId, providerName).ExecuteAsync(async token => await call(token), ct));

    private async Task<UpstreamOutcome> UnlessOpenAsync(Func<ValueTask<UpstreamOutcome>> attempt)
    {
        try
        {
            return await attempt();
        }
        catch (BrokenCircuitException open)
        {
            return new UpstreamOutcome.Unavailable(null, "the upstream failed repeatedly; calls are paused (circuit open)",
                RetryAfter: open.RetryAfter ?? _options.BreakerBreakDuration);
        }
    }

    private ResiliencePipeline<UpstreamOutcome> Breaker(Guid providerId, string providerName)
    {
        var pipeline = _breakers.GetOrAddPipeline<UpstreamOutcome>(providerId, (builder, _) =>
        {
            var circuit = _circuits.GetOrAdd(providerId, static _ => new Circuit());
            builder.TimeProvider = _time;
            builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions<UpstreamOutcome>
            {
                OnOpened = _ => circuit.Now(CircuitState.Open),
                OnHalfOpened = _ => circuit.Now(CircuitState.HalfOpen),
                OnClosed = _ => circuit.Now(CircuitState.Closed),
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is UpstreamOutcome.Unavailable),
                FailureRatio = _options.BreakerFailureRatio,
                MinimumThroughput = _options.BreakerMinimumThroughput,
                SamplingDuration = _options.BreakerSamplingDuration,
                BreakDuration = _options.BreakerBreakDuration,
            });
        });
        _circuits[providerId].Name = providerName; // a renamed provider keeps its circuit; the metric follows the name
        return pipeline;
    }

    /// <summary>One provider's breaker state as its events last told it, and the name the metric shows.</summary>
    private sealed class Circuit
    {
        private volatile int _state = (int)CircuitState.Closed;
        public volatile string Name = "";

        public CircuitState State => (CircuitState)_state;

        public ValueTask Now(CircuitState state)
        {
            _state = (int)state;
            return ValueTask.CompletedTask;
        }
    }
}
