using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Broker.IntegrationTests.Support;

/// <summary>
/// A real PgBouncer (the machine's, /usr/sbin/pgbouncer) in transaction pooling mode in front of a test PostgreSQL,
/// on a free loopback port: every transaction may run on a different server connection, as in production behind one.
/// Started as the postgres user when the tests run as root (PgBouncer refuses to run as root), like the clusters.
/// </summary>
public sealed class PgBouncer : IAsyncDisposable
{
    private readonly string _directory;

    private PgBouncer(string directory, int port)
    {
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The connection string of a database of <paramref name="server"/>, through the pooler.</summary>
    public string ConnectionStringFor(string serverConnectionString) =>
        new NpgsqlConnectionStringBuilder(serverConnectionString)
        {
            Host = "127.0.0.1",
            Port = Port,
            // docs/operations.md, "Running behind PgBouncer": the pooler resets server connections itself, and
            // DISCARD ALL from a client would only cost a round trip.
            NoResetOnClose = true,
        }.ConnectionString;

    public static async Task<PgBouncer> StartAsync(PostgresServer server)
    {
        var target = new NpgsqlConnectionStringBuilder(server.AdminConnectionString);
        var directory = Path.Combine(Path.GetTempPath(), $"broker-test-pgbouncer-{Environment.ProcessId}-{Guid.NewGuid():N}"[..48]);
        Directory.CreateDirectory(directory);
        var port = FreePort();
        var password = string.IsNullOrEmpty(target.Password) ? "" : $" password={target.Password}";
        File.WriteAllText(Path.Combine(directory, "pgbouncer.ini"), $"""
            [databases]
            * = host={target.Host} port={target.Port} user={target.Username}{password}

            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = {port}
            unix_socket_dir =
            auth_type = trust
            auth_file = {directory}/userlist.txt
            pool_mode = transaction
            max_client_conn = 2000
            default_pool_size = 40
            logfile = {directory}/pgbouncer.log
            pidfile = {directory}/pgbouncer.pid
            """);
        File.WriteAllText(Path.Combine(directory, "userlist.txt"), $"\"{target.Username}\" \"\"\n");
        if (IsRoot) Run("chown", $"-R postgres:postgres {directory}");

        Run(IsRoot ? "runuser" : Binary, IsRoot ? $"-u postgres -- {Binary} -d {directory}/pgbouncer.ini" : $"-d {directory}/pgbouncer.ini");
        var bouncer = new PgBouncer(directory, port);
        WatchForExit(directory);

        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var probe = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(bouncer.ConnectionStringFor(server.AdminConnectionString)) { Pooling = false }.ConnectionString);
                await probe.OpenAsync();
                return bouncer;
            }
            catch (Exception e) when (e is NpgsqlException or SocketException && deadline.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(50);
            }
        }
    }

    private static string Binary =>
        new[] { "/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("pgbouncer not found: apt-get install -y pgbouncer (.ci/run installs it).");

    /// <summary>
    /// Stops it (SIGTERM by its pid file's id) and deletes its files once the test process is gone, should the test
    /// host be killed before <see cref="DisposeAsync"/>.
    /// </summary>
    private static void WatchForExit(string directory)
    {
        var watcher = $"while kill -0 {Environment.ProcessId} 2>/dev/null; do sleep 1; done; " +
            $"[ -f '{directory}/pgbouncer.pid' ] && kill $(cat '{directory}/pgbouncer.pid'); rm -rf '{directory}'";
        using var start = Process.Start("bash", ["-c", $"setsid -f bash -c \"{watcher}\" </dev/null >/dev/null 2>&1"]);
        start.WaitForExit();
    }

    public ValueTask DisposeAsync()
    {
        var pidFile = Path.Combine(_directory, "pgbouncer.pid");
        if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid))
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill();
                process.WaitForExit(10_000);
            }
            catch (ArgumentException)
            {
                // Gone already.
            }
        }
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort; the watcher tries again when the test process exits.
        }
        return ValueTask.CompletedTask;
    }

    private static bool IsRoot => Environment.UserName == "root";

    private static void Run(string file, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{file} {arguments} failed ({process.ExitCode}): {output.Result}{error.Result}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
