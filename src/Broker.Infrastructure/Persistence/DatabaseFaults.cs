using Npgsql;

namespace Broker.Infrastructure.Persistence;

/// <summary>
/// Tells a database that is down, restarting, overloaded or slow to grant a lock (answer 503, try again) from a
/// bug (answer 500). EF Core wraps Npgsql's exceptions, sometimes twice, so the whole chain is looked at.
/// </summary>
public static class DatabaseFaults
{
    public static bool IsTransient(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case TimeoutException:
                case ChangeFeedBehindException:
                    return true;
                case PostgresException pg:
                    return pg.SqlState.StartsWith("08", StringComparison.Ordinal) // connection exception
                           || pg.SqlState.StartsWith("53", StringComparison.Ordinal) // insufficient resources
                           || pg.SqlState.StartsWith("57", StringComparison.Ordinal) // shutdown, statement timeout
                           || pg.SqlState is PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.SerializationFailure
                               or PostgresErrorCodes.DeadlockDetected or "25P03"; // 25P03: idle_in_transaction_session_timeout
                case NpgsqlException:
                    return true; // no server answer at all: the connection failed or broke
            }
        }
        return false;
    }
}
