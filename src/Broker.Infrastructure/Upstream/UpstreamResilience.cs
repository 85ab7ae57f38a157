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
    private readonly ConcurrentDictionary<Guid, ResiliencePipeline<UpstreamOutcome>> _breakers = new();
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

    public Task<UpstreamOutcome> LogInAsync(Guid providerId, Func<CancellationToken, Task<UpstreamOutcome>> call, CancellationToken ct) =>
        _options.LoginRetries == 0
            ? ThroughBreakerAsync(providerId, call, ct)
            : _loginRetry.ExecuteAsync(async token => await ThroughBreakerAsync(providerId, call, token), ct).AsTask();

    public Task<UpstreamOutcome> RefreshAsync(Guid providerId, Func<CancellationToken, Task<UpstreamOutcome>> call, CancellationToken ct) =>
        ThroughBreakerAsync(providerId, call, ct);

    private async Task<UpstreamOutcome> ThroughBreakerAsync(Guid providerId, Func<CancellationToken, Task<UpstreamOutcome>> call, CancellationToken ct)
    {
        try
        {
            return await Breaker(providerId).ExecuteAsync(async token => await call(token), ct);
        }
        catch (BrokenCircuitException open)
        {
            return new UpstreamOutcome.Unavailable(null, "the upstream failed repeatedly; calls are paused (circuit open)",
                RetryAfter: open.RetryAfter ?? _options.BreakerBreakDuration);
        }
    }

    private ResiliencePipeline<UpstreamOutcome> Breaker(Guid providerId) => _breakers.GetOrAdd(providerId, _ =>
        new ResiliencePipelineBuilder<UpstreamOutcome> { TimeProvider = _time }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<UpstreamOutcome>
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is UpstreamOutcome.Unavailable),
                FailureRatio = _options.BreakerFailureRatio,
                MinimumThroughput = _options.BreakerMinimumThroughput,
                SamplingDuration = _options.BreakerSamplingDuration,
                BreakDuration = _options.BreakerBreakDuration,
            })
            .Build());
}
