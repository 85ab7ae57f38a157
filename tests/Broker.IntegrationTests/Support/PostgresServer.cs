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
public sealed class PostgresServer : IAsyncDisposable
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
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
            AppDomain.CurrentDomain.ProcessExit += (_, _) => _shared.StopCluster();
            return _shared;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = $"broker_test_{Environment.ProcessId}_{Interlocked.Increment(ref _databases)}_{Guid.NewGuid():N}"[..50];
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using (var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection))
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
        if (_dataDirectory is null || !Directory.Exists(_dataDirectory)) return;
        try
        {
            Run(PgBin("pg_ctl"), $"-D {_dataDirectory} -m immediate -w stop");
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch
        {
            // Best effort at process exit.
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
        var dataDirectory = Path.Combine(Path.GetTempPath(), $"broker-test-pg-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        Directory.CreateDirectory(dataDirectory);
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
            """);
        Run(PgBin("pg_ctl"), $"-D {dataDirectory} -l {dataDirectory}/server.log -w -t 60 start");
        var connectionString = $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false";
        await using var probe = new NpgsqlConnection(connectionString);
        await probe.OpenAsync();
        return new PostgresServer(connectionString, dataDirectory);
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
