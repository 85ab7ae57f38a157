using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Broker.Infrastructure.Persistence;

/// <summary>
/// Drops the pooled connections when one of them shows the database moved (docs/operations.md, "Running with a
/// standby"). After a failover every idle connection in the pool leads to the dead primary, or, through a pooler, to a
/// server that is now read-only; left alone, each would fail one request before it is found broken. Cleared at the
/// first such error, the next requests open new connections, which Npgsql sends to the host that is now the primary.
/// Sees every EF Core command, connection and transaction; code that uses Npgsql directly calls <see cref="Observe"/>.
/// </summary>
public sealed partial class StaleConnections(NpgsqlDataSource dataSource, ILogger<StaleConnections> logger)
    : DbCommandInterceptor, IDbConnectionInterceptor, IDbTransactionInterceptor
{
    /// <summary>
    /// At most one clear (and log line) in this long: an outage fails every request, and one clear already covers
    /// every connection opened before it. Real elapsed time, not the host's TimeProvider: this paces work, it decides
    /// nothing about tokens.
    /// </summary>
    private static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(250);

    private long _lastCleared = -(long)MinInterval.TotalMilliseconds;

    /// <summary>Clears the pool when <paramref name="exception"/> says the connection's server is gone or read-only.</summary>
    public void Observe(Exception exception)
    {
        var staleness = Classify(exception);
        if (staleness == Staleness.None) return;
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastCleared);
        if (now - last < MinInterval.TotalMilliseconds || Interlocked.CompareExchange(ref _lastCleared, now, last) != last) return;
        switch (staleness)
        {
            case Staleness.ReadOnly:
                dataSource.Clear();
                // The host Npgsql took for the primary is not one (any more): ask every host again now, not in Host
                // Recheck Seconds.
                if (dataSource is NpgsqlMultiHostDataSource hosts) hosts.ClearDatabaseStates();
                LogCleared("the server is read-only");
                break;
            case Staleness.Lost:
                dataSource.Clear();
                LogCleared("the connection to the server was lost");
                break;
        }
    }

    private enum Staleness { None, Lost, ReadOnly }

    private static Staleness Classify(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException { SqlState: PostgresErrorCodes.ReadOnlySqlTransaction }:
                    return Staleness.ReadOnly;
                case PostgresException pg:
                    return pg.SqlState.StartsWith("08", StringComparison.Ordinal) // connection exception
                           || pg.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow
                        ? Staleness.Lost
                        : Staleness.None;
                case NpgsqlException { InnerException: not TimeoutException }:
                    return Staleness.Lost; // no answer from the server: the connection broke or could not be opened
            }
        }
        return Staleness.None;
    }

    public override void CommandFailed(DbCommand command, CommandErrorEventData eventData) => Observe(eventData.Exception);

    public override Task CommandFailedAsync(DbCommand command, CommandErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        Observe(eventData.Exception);
        return Task.CompletedTask;
    }

    public void ConnectionFailed(DbConnection connection, ConnectionErrorEventData eventData) => Observe(eventData.Exception);

    public Task ConnectionFailedAsync(DbConnection connection, ConnectionErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        Observe(eventData.Exception);
        return Task.CompletedTask;
    }

    public void TransactionFailed(DbTransaction transaction, TransactionErrorEventData eventData) => Observe(eventData.Exception);

    public Task TransactionFailedAsync(DbTransaction transaction, TransactionErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        Observe(eventData.Exception);
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Database connections dropped from the pool: {Reason}; new ones go to the current primary")]
    private partial void LogCleared(string reason);
}
