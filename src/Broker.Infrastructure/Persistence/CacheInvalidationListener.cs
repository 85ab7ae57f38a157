using Microsoft.Extensions.Logging;
using Npgsql;

namespace Broker.Infrastructure.Persistence;

/// <summary>
/// Listens on <see cref="CacheInvalidation.Channel"/> over a connection of its own and applies what other instances
/// (and this one) report changed. When the connection is lost it reconnects with a capped backoff, and then forgets
/// every cached client and token: notifications sent while nobody listened are lost for good. A database that is
/// down at start-up delays nothing: the broker starts, reports not ready, and this keeps trying.
/// </summary>
public sealed partial class CacheInvalidationListener(
    NpgsqlDataSource dataSource,
    CacheInvalidation caches,
    TimeProvider time,
    ILogger<CacheInvalidationListener> logger) : SupervisedLoop(time, logger)
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long the connection may stay quiet before a query checks it is still there: a connection whose server
    /// vanished without a word (a failover, a network cut) would otherwise be waited on for ever.
    /// </summary>
    private static readonly TimeSpan QuietCheck = TimeSpan.FromSeconds(30);

    private NpgsqlConnection? _listening;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Before the server takes requests, so nothing can be cached yet that a missed notification would leave stale.
        _listening = await TryListenAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        var connection = _listening;
        _listening = null;
        var retry = FirstRetry;
        try
        {
            while (true)
            {
                if (connection is null)
                {
                    await Task.Delay(retry, Clock, stoppingToken);
                    retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, MaxRetry.Ticks));
                    connection = await TryListenAsync(stoppingToken);
                    if (connection is null) continue;
                    caches.ForgetEverything();
                    LogListeningAgain();
                }

                retry = FirstRetry;
                try
                {
                    while (true)
                    {
                        // LISTEN again as the check: a no-op round trip, and pg_stat_activity keeps naming the backend.
                        if (!await connection.WaitAsync(QuietCheck, stoppingToken)) await ListenAsync(connection, stoppingToken);
                    }
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    LogConnectionLost(e);
                }
                finally
                {
                    await connection.DisposeAsync();
                    connection = null;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>A connection listening on the channel, or null (logged) when the database cannot be reached.</summary>
    private async Task<NpgsqlConnection?> TryListenAsync(CancellationToken ct)
    {
        NpgsqlConnection? connection = null;
        try
        {
            connection = await dataSource.OpenConnectionAsync(ct);
            connection.Notification += (_, e) => ApplySafely(e.Payload);
            await ListenAsync(connection, ct);
            return connection;
        }
        catch (Exception e)
        {
            if (connection is not null) await connection.DisposeAsync();
            if (ct.IsCancellationRequested) throw;
            LogCannotListen(e);
            return null;
        }
    }

    /// <summary>
    /// Runs inside Npgsql's read of the connection: an exception here would break the connection. A payload that
    /// cannot be applied is an unknown change, and forgetting everything is always safe.
    /// </summary>
    private void ApplySafely(string payload)
    {
        try
        {
            caches.Apply(payload);
        }
        catch (Exception e)
        {
            LogCannotApply(e);
            caches.ForgetEverything();
        }
    }

    private static async Task ListenAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var listen = new NpgsqlCommand($"LISTEN {CacheInvalidation.Channel}", connection);
        await listen.ExecuteNonQueryAsync(ct);
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Cannot listen for cache invalidations; other instances' changes are seen when cache entries expire until it can")]
    private partial void LogCannotListen(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the connection that listens for cache invalidations; reconnecting")]
    private partial void LogConnectionLost(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A cache invalidation could not be applied; every cached client and token is dropped instead")]
    private partial void LogCannotApply(Exception exception);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Listening for cache invalidations again; cached clients and tokens dropped, as notifications may have been missed")]
    private partial void LogListeningAgain();
}
