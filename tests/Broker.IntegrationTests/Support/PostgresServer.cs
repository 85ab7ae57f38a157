using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Broker.IntegrationTests.Support;

/// <summary>
/// A real PostgreSQL for the whole test run: the server named by BROKER_TEST_DB when set, else a private
/// throwaway cluster started with the machine's initdb/pg_ctl on a free loopback port. Each test class gets a
/// database of its own.
/// </summary>
public sealed partial class PostgresServer : IAsyncDisposable
{
    private const string ClusterPrefix = "broker-test-pg-";
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static readonly List<PostgresServer> Started = [];
    private static bool _swept;
    private static PostgresServer? _shared;
    private readonly string? _dataDirectory;
    private int _databases;

    private PostgresServer(string adminConnectionString, string? dataDirectory)
    {
        AdminConnectionString = adminConnectionString;
        _dataDirectory = dataDirectory;
    }

    public string AdminConnectionString { get; }

    public static async Task<PostgresServer> SharedAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_shared is not null) return _shared;
            var given = Environment.GetEnvironmentVariable("BROKER_TEST_DB");
            _shared = string.IsNullOrWhiteSpace(given) ? await StartPrivateClusterAsync() : new PostgresServer(given, null);
            return _shared;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>
    /// Creates a database with the broker's migrations applied and returns its connection string. It is a copy of
    /// a template migrated once per run: every test world gets the schema without each running the migrations (the
    /// broker still runs them at start-up, and finds them applied). Migration tests use <see cref="CreateEmptyDatabaseAsync"/>.
    /// </summary>
    public async Task<string> CreateDatabaseAsync()
    {
        Task<string> template;
        lock (_templateLock) template = _template ??= CreateTemplateAsync();
        return await CreateAsync(await template);
    }

    /// <summary>
    /// Drops a test's database once its world is gone, in the background (a drop waits for a checkpoint, which the
    /// test need not wait for). A database is about a thousand files: left to the end of the run, deleting hundreds of
    /// them took the test host minutes on a busy machine.
    /// </summary>
    public void DropDatabaseLater(string connectionString)
    {
        lock (_templateLock) _dropper ??= Task.Run(DropQueuedAsync);
        _drops.Writer.TryWrite(connectionString);
    }

    private readonly System.Threading.Channels.Channel<string> _drops = System.Threading.Channels.Channel.CreateUnbounded<string>();
    private Task? _dropper;

    private async Task DropQueuedAsync()
    {
        await foreach (var connectionString in _drops.Reader.ReadAllAsync())
        {
            try
            {
                NpgsqlConnection.ClearPool(new NpgsqlConnection(connectionString));
                await using var connection = new NpgsqlConnection(AdminConnectionString);
                await connection.OpenAsync();
                var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
                await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
                await drop.ExecuteNonQueryAsync();
            }
            catch (Exception)
            {
                // Best effort (a fault test may have stopped the server): the cluster is removed whole at the end of the run.
            }
        }
    }

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public Task<string> CreateEmptyDatabaseAsync() => CreateAsync(template: null);

    private readonly Lock _templateLock = new();
    private Task<string>? _template;

    private async Task<string> CreateTemplateAsync()
    {
        var name = $"broker_template_{Environment.ProcessId}_{Guid.NewGuid():N}"[..40];
        var connectionString = await CreateAsync(template: null, name);
        await using (var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString))
            await new Broker.Infrastructure.Persistence.MigrationRunner(dataSource,
                Microsoft.Extensions.Logging.Abstractions.NullLogger<Broker.Infrastructure.Persistence.MigrationRunner>.Instance).ApplyAsync();
        return name;
    }

    private async Task<string> CreateAsync(string? template, string? name = null)
    {
        name ??= $"broker_test_{Environment.ProcessId}_{Interlocked.Increment(ref _databases)}_{Guid.NewGuid():N}"[..50];
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        var sql = template is null ? $"CREATE DATABASE \"{name}\"" : $"CREATE DATABASE \"{name}\" TEMPLATE \"{template}\" STRATEGY FILE_COPY";
        await using (var create = new NpgsqlCommand(sql, connection))
            await create.ExecuteNonQueryAsync();
        return new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = name, Pooling = true, MaxPoolSize = 50 }.ConnectionString;
    }

    public ValueTask DisposeAsync()
    {
        StopCluster();
        return ValueTask.CompletedTask;
    }

    private void StopCluster()
    {
        if (_dataDirectory is not null) RemoveCluster(_dataDirectory);
    }

    /// <summary>Stops a cluster if it runs (a fault test may have stopped it already) and deletes its files.</summary>
    private static void RemoveCluster(string dataDirectory)
    {
        if (!Directory.Exists(dataDirectory)) return;
        try
        {
            if (File.Exists(Path.Combine(dataDirectory, "postmaster.pid"))) Run(PgBin("pg_ctl"), $"-D {dataDirectory} -m immediate -w stop");
        }
        catch (InvalidOperationException)
        {
            // Not running after all (a stale postmaster.pid): the files go all the same.
        }
        try
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort at process exit; the next run's sweep tries again.
        }
    }

    /// <summary>
    /// Clusters of earlier runs that did not get to clean up (killed, interrupted): the pid in a cluster's name is
    /// its test process's; when that process is gone, nobody will stop the cluster but us.
    /// </summary>
    private static void SweepStaleClusters()
    {
        foreach (var dir in new[] { ClusterParent, Path.GetTempPath() }.Distinct().SelectMany(parent => Directory.EnumerateDirectories(parent, ClusterPrefix + "*")))
        {
            var name = Path.GetFileName(dir);
            var pidText = name[ClusterPrefix.Length..].Split('-')[0];
            if (!int.TryParse(pidText, out var pid) || pid == Environment.ProcessId || IsAlive(pid)) continue;
            RemoveCluster(dir);
        }
    }

    /// <summary>
    /// The test host is often killed right after the last test, before its ProcessExit handler has deleted the
    /// cluster (GBs); it may also be interrupted or crash. A detached watcher outlives it and removes the cluster
    /// once this process is gone. (It polls: a process cannot be awaited from outside its parent.)
    /// </summary>
    private static void WatchForExit(string dataDirectory)
    {
        var pgCtl = PgBin("pg_ctl");
        var asPostgres = IsRoot ? "runuser -u postgres -- " : "";
        var watcher = $"while kill -0 {Environment.ProcessId} 2>/dev/null; do sleep 1; done; " +
            $"[ -f '{dataDirectory}/postmaster.pid' ] && {asPostgres}'{pgCtl}' -D '{dataDirectory}' -m immediate -w stop; rm -rf '{dataDirectory}'";
        // Its own session and no inherited output: it must neither die with the test run nor hold the runner's pipes open.
        using var start = Process.Start("bash", ["-c", $"setsid -f bash -c \"{watcher}\" </dev/null >/dev/null 2>&1"]);
        start.WaitForExit();
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Stops the cluster (fault tests); <see cref="StartAsync"/> brings it back on the same port.</summary>
    public void Stop() => Run(PgBin("pg_ctl"), $"-D {_dataDirectory} -m fast -w stop");

    public void Start() => Run(PgBin("pg_ctl"), $"-D {_dataDirectory} -l {_dataDirectory}/server.log -w start");

    public bool IsPrivate => _dataDirectory is not null;

    /// <summary>A cluster of one's own, for tests that stop and start PostgreSQL under the broker.</summary>
    public static Task<PostgresServer> StartDedicatedAsync() => StartPrivateClusterAsync();

    private static async Task<PostgresServer> StartPrivateClusterAsync()
    {
        lock (Started)
        {
            if (!_swept)
            {
                _swept = true;
                SweepStaleClusters();
                // Every cluster this process starts, shared or dedicated, goes when it exits, also after a failed test.
                AppDomain.CurrentDomain.ProcessExit += (_, _) => { lock (Started) foreach (var server in Started) server.StopCluster(); };
            }
        }
        // test.sh names its run (BROKER_TEST_RUN) so that it can check its own clusters, not those of a run beside it.
        var run = Environment.GetEnvironmentVariable("BROKER_TEST_RUN") is { Length: > 0 } r && r.All(char.IsAsciiLetterOrDigit) ? $"{r[..Math.Min(r.Length, 12)]}-" : "";
        var dataDirectory = Path.Combine(ClusterParent, $"{ClusterPrefix}{Environment.ProcessId}-{run}{Guid.NewGuid():N}"[..(40 + run.Length)]);
        Directory.CreateDirectory(dataDirectory);
        string connectionString;
        try
        {
            if (IsRoot) Run("chown", $"postgres:postgres {dataDirectory}", asPostgres: false);

            Run(PgBin("initdb"), $"-D {dataDirectory} -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8");
            var port = FreePort();
            File.AppendAllText(Path.Combine(dataDirectory, "postgresql.conf"), $"""

                listen_addresses = '127.0.0.1'
                port = {port}
                unix_socket_directories = '{dataDirectory}'
                max_connections = 400
                fsync = off
                synchronous_commit = off
                full_page_writes = off
                shared_buffers = 128MB
                max_wal_size = 256MB
                """);
            Run(PgBin("pg_ctl"), $"-D {dataDirectory} -l {dataDirectory}/server.log -w -t 60 start");
            connectionString = $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false";
            await using var probe = new NpgsqlConnection(connectionString);
            await probe.OpenAsync();
        }
        catch
        {
            RemoveCluster(dataDirectory); // a cluster that failed to start is not left behind either
            throw;
        }
        var server = new PostgresServer(connectionString, dataDirectory);
        lock (Started) Started.Add(server);
        WatchForExit(dataDirectory);
        return server;
    }

    /// <summary>
    /// Where clusters live: in memory (/dev/shm) when the machine has room there, else the temp folder. Every test
    /// world's database is a copy of about a thousand files, made and dropped again; on a disk file system the
    /// kernel's work creating and deleting them was a third of the fast tests' CPU.
    /// </summary>
    private static string ClusterParent { get; } = InMemoryFolder() ?? Path.GetTempPath();

    private static string? InMemoryFolder()
    {
        const string shm = "/dev/shm";
        try
        {
            return Directory.Exists(shm) && new DriveInfo(shm).AvailableFreeSpace > 4L << 30 ? shm : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    private static bool IsRoot => Environment.UserName == "root";

    private static string PgBin(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
            if (File.Exists(Path.Combine(dir, tool))) return Path.Combine(dir, tool);
        var installed = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => d).Select(d => Path.Combine(d, "bin", tool)).FirstOrDefault(File.Exists)
            : null;
        return installed ?? throw new InvalidOperationException($"{tool} not found: install PostgreSQL or set BROKER_TEST_DB.");
    }

    private static void Run(string file, string arguments, bool asPostgres = true)
    {
        var start = asPostgres && IsRoot
            ? new ProcessStartInfo("runuser", $"-u postgres -- {file} {arguments}")
            : new ProcessStartInfo(file, arguments);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {arguments} failed ({process.ExitCode}): {output.Result}{error.Result}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
