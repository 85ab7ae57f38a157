using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Broker.Infrastructure;

/// <summary>
/// A background loop that nothing can end but the host's shutdown. A <see cref="BackgroundService"/> whose
/// ExecuteAsync faults stops the whole host (the default BackgroundServiceExceptionBehavior), so a single
/// unexpected exception in any of the seven loops (the audit writer, audit retention, the ahead-of-time refresher, the
/// change feed, the account state counts, the webhook dispatcher and the refresh expiry scanner) would take every
/// instance's token service down with it. The loops that work on a timer derive from <see cref="PeriodicLoop"/>. Here the exception is logged, the loop waits (doubling
/// from 1 s to 1 min) and runs again.
/// </summary>
public abstract partial class SupervisedLoop(TimeProvider time, ILogger logger) : BackgroundService
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(1);

    /// <summary>The clock the loop waits on (the host's TimeProvider).</summary>
    protected TimeProvider Clock { get; } = time;

    /// <summary>The loop itself; returning ends it for good (e.g. switched off), throwing restarts it.</summary>
    protected abstract Task RunAsync(CancellationToken stoppingToken);

    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = FirstBackoff;
        while (!stoppingToken.IsCancellationRequested)
        {
            var started = Clock.GetUtcNow();
            try
            {
                await RunAsync(stoppingToken);
                return;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // A loop that ran for a while before failing starts again from the first backoff.
                if (Clock.GetUtcNow() - started > MaxBackoff) backoff = FirstBackoff;
                LogLoopFailed(logger, e, GetType().Name, backoff.TotalSeconds);
            }
            try
            {
                await Task.Delay(backoff, Clock, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Background loop {Loop} failed; it starts again in {BackoffSeconds} s")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception, string loop, double backoffSeconds);
}
