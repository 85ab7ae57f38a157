using System.Collections.Concurrent;
using System.Diagnostics;
using Npgsql;

namespace Broker.IntegrationTests.Support;

/// <summary>
/// The SQL statements run on one test's database while this is alive, from Npgsql's activities: for tests that
/// count what a request costs the database (other tests' databases share the process and are left out).
/// </summary>
public sealed class DatabaseCommands : IDisposable
{
    private readonly ActivityListener _listener;
    private readonly ConcurrentQueue<string> _statements = new();

    public DatabaseCommands(string connectionString)
    {
        var database = new NpgsqlConnectionStringBuilder(connectionString).Database;
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                var db = activity.GetTagItem("db.namespace") ?? activity.GetTagItem("db.name");
                if (!Equals(db, database)) return;
                _statements.Enqueue((activity.GetTagItem("db.query.text") ?? activity.GetTagItem("db.statement")) as string ?? "");
            },
        };
        ActivitySource.AddActivityListener(_listener);
    }

    /// <summary>How many statements so far contain <paramref name="fragment"/> (e.g. "FROM clients", "FOR UPDATE").</summary>
    public int Count(string fragment) => Count(s => s.Contains(fragment, StringComparison.Ordinal));

    /// <summary>How many statements so far satisfy <paramref name="counted"/>.</summary>
    public int Count(Func<string, bool> counted) => _statements.Count(counted);

    public void Dispose() => _listener.Dispose();
}
