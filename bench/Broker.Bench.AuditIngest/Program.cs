// Audit ingestion benchmark: how many events per second AuditQueue + AuditWriter (binary COPY batches) sustain
// into PostgreSQL on this machine. Not a test: run it by hand and write the figure into docs/benchmarks.md.
//
//   dotnet run -c Release --project bench/Broker.Bench.AuditIngest -- [--events 500000] [--batch 5000] [--runs 3]
//
// Without BROKER_BENCH_DB (a connection string to a server whose `postgres` database it may use) it starts the
// local cluster of scripts/local-postgres.sh in .local/bench-pg on port 5434 (default settings: fsync and
// synchronous_commit on, as in production). Each invocation gets a fresh database `broker_bench_audit`.
using System.Diagnostics;
using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Persistence;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

var events = Option("--events", 500_000);
var batch = Option("--batch", new AuditOptions().BatchSize);
var runs = Option("--runs", 3);

var server = Environment.GetEnvironmentVariable("BROKER_BENCH_DB") ?? StartLocalCluster();
var database = await CreateDatabaseAsync(server, "broker_bench_audit");
await using var dataSource = NpgsqlDataSource.Create(database);
await new MigrationRunner(dataSource, NullLogger<MigrationRunner>.Instance).ApplyAsync();

Console.WriteLine($"{Environment.MachineName}, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, " +
                  $"PostgreSQL {await ScalarAsync<string>(dataSource, "SHOW server_version")}, " +
                  $"fsync={await ScalarAsync<string>(dataSource, "SHOW fsync")}, synchronous_commit={await ScalarAsync<string>(dataSource, "SHOW synchronous_commit")}");
Console.WriteLine($"{events:N0} token.served events per run, batches of {batch:N0}");

var rates = new List<double>();
for (var run = 1; run <= runs; run++)
{
    var sample = Events(events).ToArray(); // built beforehand: the run measures the queue and the writer only
    var options = Options.Create(new AuditOptions { QueueCapacity = Math.Max(events, 100), BatchSize = batch });
    var queue = new AuditQueue(options);
    using var writer = new AuditWriter(queue, new ServedTokenRollups(options), dataSource, TimeProvider.System, options, NullLogger<AuditWriter>.Instance);
    var before = await ScalarAsync<long>(dataSource, "SELECT count(*) FROM audit_events");

    await writer.StartAsync(CancellationToken.None);
    var clock = Stopwatch.StartNew();
    foreach (var e in sample) queue.Enqueue(e);
    await writer.StopAsync(CancellationToken.None); // returns once the queue is drained into the table
    clock.Stop();

    var written = await ScalarAsync<long>(dataSource, "SELECT count(*) FROM audit_events") - before;
    if (written != events || queue.Dropped != 0) throw new InvalidOperationException($"wrote {written} of {events} ({queue.Dropped} dropped)");
    var rate = events / clock.Elapsed.TotalSeconds;
    rates.Add(rate);
    Console.WriteLine($"run {run}: {clock.Elapsed.TotalSeconds:F2} s, {rate:N0} events/s");
}
rates.Sort();
Console.WriteLine($"median: {rates[rates.Count / 2]:N0} events/s");

static IEnumerable<AuditEvent> Events(int count)
{
    var now = DateTimeOffset.UtcNow;
    var clients = Enumerable.Range(0, 20).Select(i => (Guid.NewGuid(), $"service-{i}")).ToArray();
    var accounts = Enumerable.Range(0, 200).Select(i => (Guid.NewGuid(), $"account-{i}")).ToArray();
    for (var i = 0; i < count; i++)
    {
        var (clientId, client) = clients[i % clients.Length];
        var (accountId, account) = accounts[i % accounts.Length];
        yield return new AuditEvent
        {
            At = now.AddTicks(i * 10), Action = AuditActions.TokenServed, Outcome = i % 50 == 0 ? "miss" : "hit",
            ClientId = clientId, ClientName = client, AccountId = accountId, AccountName = account, ProviderName = $"provider-{i % 5}",
            RequestId = $"0HNBENCH{i:X8}:00000001", RemoteIp = "10.1.2.3", TokenHmac = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + "00000000000000000000000000000000",
        };
    }
}

static string StartLocalCluster()
{
    var root = FindRoot();
    var start = new ProcessStartInfo(Path.Combine(root, "scripts", "local-postgres.sh")) { RedirectStandardOutput = true };
    start.Environment["BROKER_PG_DATA"] = Path.Combine(root, ".local", "bench-pg");
    start.Environment["BROKER_PG_PORT"] = "5434";
    using var script = Process.Start(start)!;
    var connectionString = script.StandardOutput.ReadToEnd().Trim().Split('\n')[^1];
    script.WaitForExit();
    if (script.ExitCode != 0) throw new InvalidOperationException("scripts/local-postgres.sh failed");
    return new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres" }.ConnectionString;
}

static string FindRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "Broker.sln"))) return dir.FullName;
    throw new InvalidOperationException("Run from inside the repository.");
}

static async Task<string> CreateDatabaseAsync(string server, string name)
{
    await using (var admin = NpgsqlDataSource.Create(server))
    {
        await using var drop = admin.CreateCommand($"DROP DATABASE IF EXISTS {name}");
        await drop.ExecuteNonQueryAsync();
        await using var create = admin.CreateCommand($"CREATE DATABASE {name}");
        await create.ExecuteNonQueryAsync();
    }
    return new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString;
}

static async Task<T> ScalarAsync<T>(NpgsqlDataSource dataSource, string sql)
{
    await using var command = dataSource.CreateCommand(sql);
    return (T)(await command.ExecuteScalarAsync())!;
}

int Option(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
}
