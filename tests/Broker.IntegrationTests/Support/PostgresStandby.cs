using System.Diagnostics;
using Npgsql;

namespace Broker.IntegrationTests.Support;

/// <summary>
/// A dedicated cluster's streaming-replication standby, and what a failover does to the two: the primary killed as a
/// machine dies (SIGKILL, every process at once), the standby promoted.
/// </summary>
public sealed partial class PostgresServer
{
    public int Port => new NpgsqlConnectionStringBuilder(AdminConnectionString).Port;

    /// <summary>
    /// Makes this (dedicated) cluster's commits wait for a standby, then starts one: <c>pg_basebackup -R</c>, streaming,
    /// synchronous. Returns once the primary reports it as its synchronous standby.
    /// </summary>
    public async Task<PostgresServer> StartSynchronousStandbyAsync()
    {
        if (_dataDirectory is null) throw new InvalidOperationException("A standby needs a cluster of this run's own.");
        // The test cluster runs with synchronous_commit off (speed); a commit must now wait for the standby's flush.
        File.AppendAllText(Path.Combine(_dataDirectory, "postgresql.conf"), """

            synchronous_commit = on
            synchronous_standby_names = '*'
            """);
        Run(PgBin("pg_ctl"), $"-D {_dataDirectory} reload");

        var standbyDirectory = $"{_dataDirectory}-standby";
        Directory.CreateDirectory(standbyDirectory);
        if (IsRoot) Run("chown", $"postgres:postgres {standbyDirectory}", asPostgres: false);
        Run("chmod", $"700 {standbyDirectory}", asPostgres: false); // PostgreSQL refuses a data directory others can read
        var port = FreePort();
        Run(PgBin("pg_basebackup"), $"-h 127.0.0.1 -p {Port} -U postgres -D {standbyDirectory} -R -X stream -c fast --no-sync");
        // The copied configuration is the primary's: its own port and socket, and once promoted it must not wait for a
        // standby of its own, which it does not have.
        File.AppendAllText(Path.Combine(standbyDirectory, "postgresql.conf"), $"""

            port = {port}
            unix_socket_directories = '{standbyDirectory}'
            synchronous_standby_names = ''
            """);
        Run(PgBin("pg_ctl"), $"-D {standbyDirectory} -l {standbyDirectory}/server.log -w -t 60 start");
        var standby = new PostgresServer($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false", standbyDirectory);
        lock (Started) Started.Add(standby);
        WatchForExit(standbyDirectory);

        await using var primary = new NpgsqlConnection(AdminConnectionString);
        await primary.OpenAsync();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            await using var state = new NpgsqlCommand("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync' AND state = 'streaming'", primary);
            if ((long)(await state.ExecuteScalarAsync())! == 1) return standby;
            if (deadline.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException("The standby did not become synchronous in 60 s.");
            await Task.Delay(50);
        }
    }

    /// <summary>SIGKILL to the postmaster and every process of the cluster at once: no shutdown, no last WAL sent.</summary>
    public void Kill()
    {
        var postmaster = int.Parse(File.ReadLines(Path.Combine(_dataDirectory!, "postmaster.pid")).First());
        var children = File.ReadAllText($"/proc/{postmaster}/task/{postmaster}/children")
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse);
        foreach (var pid in children.Prepend(postmaster)) SendKill(pid, 9);
        var deadline = Stopwatch.StartNew();
        while (IsRunning(postmaster) && deadline.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(10);
    }

    /// <summary>Neither gone nor a zombie (a container's first process may never reap it).</summary>
    private static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Promotes a standby to primary; returns once it takes writes.</summary>
    public void Promote() => Run(PgBin("pg_ctl"), $"-D {_dataDirectory} -w promote");

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendKill(int pid, int signal);
}
