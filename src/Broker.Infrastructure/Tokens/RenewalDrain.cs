using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Broker.Infrastructure.Upstream;
using Microsoft.Extensions.Options;

namespace Broker.Infrastructure.Tokens;

/// <summary>
/// The renewals under way on this instance, run detached from whoever asked (docs/architecture.md, "Stopping"): a
/// refresh once sent must have its answer stored, or a rotating upstream's new refresh token is lost with it. At
/// the host's stop the instance starts no new upstream call (<see cref="Stopping"/>) and waits here, up to
/// <see cref="TokenOptions.DrainTimeout"/>, for those already sent.
/// </summary>
public sealed partial class RenewalDrain(IHostApplicationLifetime lifetime, IOptions<TokenOptions> options, IOptions<UpstreamOptions> upstream,
    ILogger<RenewalDrain> logger) : IHostedService
{
    private readonly ConcurrentDictionary<Task, byte> _running = new();

    /// <summary>Set from SIGTERM on: no new refresh, login or code exchange may start.</summary>
    public bool Stopping => lifetime.ApplicationStopping.IsCancellationRequested;

    /// <summary>Runs <paramref name="work"/> to its end whatever the caller does; the caller waits with its own token.</summary>
    public Task<T> Run<T>(Func<Task<T>> work)
    {
        var task = Task.Run(work, CancellationToken.None);
        _running.TryAdd(task, 0);
        task.ContinueWith(static (t, running) => ((ConcurrentDictionary<Task, byte>)running!).TryRemove(t, out _), _running,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return task;
    }

    public int Running => _running.Count;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var running = _running.Keys.ToList();
        if (running.Count == 0) return;
        LogDraining(running.Count);
        var drainTimeout = options.Value.DrainTimeoutFor(upstream.Value.WorstCaseCall);
        try
        {
            await Task.WhenAll(running).WaitAsync(drainTimeout, cancellationToken);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            LogDrainTimedOut(_running.Count, drainTimeout);
        }
        catch (Exception)
        {
            // A renewal's own failure was reported to its caller; here only its end matters.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping: waiting for {Count} token renewal(s) under way")]
    private partial void LogDraining(int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stopping: {Count} token renewal(s) still under way after {DrainTimeout}")]
    private partial void LogDrainTimedOut(int count, TimeSpan drainTimeout);
}
