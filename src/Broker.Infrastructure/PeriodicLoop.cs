using Microsoft.Extensions.Logging;

namespace Broker.Infrastructure;

/// <summary>
/// A <see cref="SupervisedLoop"/> that does one unit of work per tick of a timer on the host's clock. A tick that
/// fails is reported by the loop in its own words and the next tick tries again (a database outage must not end a
/// loop); anything that escapes is the supervisor's, which restarts the loop after a backoff.
/// </summary>
public abstract class PeriodicLoop(TimeProvider time, ILogger logger) : SupervisedLoop(time, logger)
{
    /// <summary>Time between ticks.</summary>
    protected abstract TimeSpan Interval { get; }

    /// <summary>Whether the first tick runs at once (else after one interval).</summary>
    protected virtual bool TicksAtStart => true;

    /// <summary>False when the loop is switched off by its settings: it ends at once.</summary>
    protected virtual bool Enabled => true;

    /// <summary>What must be true before the first tick (e.g. start-up over); waits for it.</summary>
    protected virtual Task ReadyAsync(CancellationToken stoppingToken) => Task.CompletedTask;

    /// <summary>One unit of work.</summary>
    protected abstract Task TickAsync(CancellationToken stoppingToken);

    /// <summary>A tick threw (not because the host is stopping): the loop says so in its own words.</summary>
    protected abstract void TickFailed(Exception exception);

    protected sealed override async Task RunAsync(CancellationToken stoppingToken)
    {
        if (!Enabled) return;
        await ReadyAsync(stoppingToken);
        using var timer = new PeriodicTimer(Interval, Clock);
        if (!TicksAtStart && !await timer.WaitForNextTickAsync(stoppingToken)) return;
        do
        {
            try
            {
                await TickAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                TickFailed(e);
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
