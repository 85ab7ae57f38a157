using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;

namespace Broker.Bench;

/// <summary>
/// 5. How the broker grows with the number of accounts (1,000, 10,000, 100,000) and of keys (10,000 clients): start-up,
/// memory idle and with every token held, the first fetch of each account, cached fetches over all of them, and what
/// those left in the audit trail. The accounts are SQL copies of one (<see cref="Seeding.CopiesAsync"/>), grown point
/// by point; each point is measured on a freshly started broker.
/// </summary>
public static partial class Scale
{
    public const string Prefix = "scale-";

    /// <summary>RSS (/proc VmRSS) and the managed heap retained after a full blocking collection (dotnet-gcdump), in bytes.</summary>
    public sealed record Memory(long RssBytes, long HeapBytes);

    /// <summary>Each account fetched once, cold (a read of its stored token), by ~32 concurrent callers.</summary>
    public sealed record FirstFetches(int Requests, int Errors, double PerSecond, double P50Ms, double P99Ms, long Transactions)
    {
        public double TransactionsPerFetch => Requests == 0 ? 0 : Transactions / (double)Requests;
    }

    /// <summary>
    /// What the cached run left in audit_events: <see cref="Storage"/> (the growth: new rows), and the served-token rows
    /// it wrote or added its counts to (an account already fetched in the same period, by an earlier point, has its row
    /// already), with their distinct accounts and periods (a run across a period boundary has an account's row in each).
    /// </summary>
    public sealed record CachedAudit(Scenarios.AuditStorage Storage, long TouchedRows, long DistinctAccounts, long Periods)
    {
        /// <summary>How long after the run the trail stopped growing: the writer's backlog (a second is its window).</summary>
        public TimeSpan WrittenAfter { get; init; }
    }

    /// <param name="InDatabase">Every account in the database: the earlier scenarios' too (about 10,000 in a full run).</param>
    public sealed record Point(int Accounts, long InDatabase, TimeSpan Seeding, TimeSpan StartUp, Memory Idle, Memory Warm, FirstFetches First,
        LoadTools.LoadResult Cached, long CachedTransactions, CachedAudit Audit, int UpstreamCalls)
    {
        public double RssPerAccount => (Warm.RssBytes - Idle.RssBytes) / (double)Accounts;
        public double HeapPerAccount => (Warm.HeapBytes - Idle.HeapBytes) / (double)Accounts;
        public double CachedTransactionsPerFetch => Cached.Requests == 0 ? 0 : CachedTransactions / (double)Cached.Requests;

        /// <summary>Distinct accounts that R uniformly random fetches over N accounts hit: N (1 − e^(−R/N)), about min(N, R).</summary>
        public double ExpectedDistinct => Accounts * (1 - Math.Exp(-Cached.Requests / (double)Accounts));
    }

    /// <summary>The same accounts with many clients (keys) instead of one, against the point without them.</summary>
    public sealed record ClientsPoint(int Clients, int Accounts, TimeSpan Seeding, TimeSpan StartUp, Memory Idle, TimeSpan BaselineStartUp, Memory Baseline)
    {
        public double RssPerKey => (Idle.RssBytes - Baseline.RssBytes) / (double)Clients;
        public double HeapPerKey => (Idle.HeapBytes - Baseline.HeapBytes) / (double)Clients;
    }

    public sealed record Result(List<Point> Points, ClientsPoint? Clients, int CachedSeconds, int Starts, TimeSpan Elapsed);

    /// <summary>
    /// A token is served from memory for at most Broker:Tokens:MemoryCacheMaxAge (30 s) before the database is read
    /// again; 100,000 first fetches take longer than that, so the cached run would read most of them again. Ten
    /// minutes here, so that it measures memory hits.
    /// </summary>
    public const string MemoryCacheMaxAge = "00:10:00";

    /// <summary>
    /// The heap limit the runtime sets itself in a container with a 512 MiB memory limit (75 % of it), the size
    /// docs/operations.md recommends ("How much memory"): the figures are those of that container.
    /// </summary>
    public const string HeapHardLimit = "0x18000000"; // 384 MiB

    private static readonly Dictionary<string, string> Settings = new()
    {
        ["Broker__AheadOfTime__Enabled"] = "false",
        ["Broker__Tokens__MemoryCacheMaxAge"] = MemoryCacheMaxAge,
        ["DOTNET_GCHeapHardLimit"] = HeapHardLimit,
    };

    /// <summary>
    /// The points: 1,000 (--quick), 10,000 and 100,000 accounts; BENCH_SCALE_MAX caps them (while developing).
    /// The 10,000-client point runs beside the 10,000-account one (or the largest below it), in the quick run only alone.
    /// </summary>
    public static async Task<Result> RunAsync(Stack stack, bool quick, int cachedSeconds, bool onlyScenario = false)
    {
        var elapsed = Stopwatch.StartNew();
        var starts = quick ? 1 : 2;
        var max = int.TryParse(Environment.GetEnvironmentVariable("BENCH_SCALE_MAX"), out var cap) ? cap : int.MaxValue;
        var counts = (quick ? new[] { 1_000 } : [1_000, 10_000, 100_000]).Where(n => n <= max).DefaultIfEmpty(Math.Max(2, max)).ToList();
        // Not in the quick run, which must stay under 3 minutes (--scale-only --quick measures it).
        int? clientsAt = quick && !onlyScenario ? null : counts.Where(n => n <= 10_000).DefaultIfEmpty(counts[0]).Max();

        var broker = await stack.StartBrokerAsync(Settings);
        await Seeding.ProviderAsync(stack);
        // The consumer's provider grant is in the database before the copies, and every point starts a fresh broker:
        // the directory reads clients and accounts when it starts.
        var key = await Seeding.ConsumerAsync(stack, "bench-scale");
        await Seeding.TemplateAsync(stack, broker, Prefix, key);
        await stack.StopBrokersAsync();

        var points = new List<Point>();
        ClientsPoint? clients = null;
        foreach (var n in counts)
        {
            Console.WriteLine($"  scale: {n:N0} accounts ...");
            var point = await PointAsync(stack, n, key, cachedSeconds, starts);
            points.Add(point);
            if (n == clientsAt)
            {
                Console.WriteLine($"  scale: 10,000 clients, {n:N0} accounts ...");
                clients = await ClientsAsync(stack, 10_000, n, point, starts);
            }
        }
        return new Result(points, clients, cachedSeconds, starts, elapsed.Elapsed);
    }

    private static async Task<Point> PointAsync(Stack stack, int accounts, string key, int cachedSeconds, int starts)
    {
        var seeding = await Seeding.CopiesAsync(stack, Prefix, accounts);
        var inDatabase = await AccountsInDatabaseAsync(stack);
        var upstreamBefore = await UpstreamCallsAsync(stack);
        var (broker, startUp, pid) = await StartAsync(stack, starts);
        var idle = await MemoryAsync(pid);

        var transactions = await Scenarios.TransactionsAsync(stack.ConnectionString);
        var first = await FirstFetchesAsync(stack, broker, key, accounts);
        await Task.Delay(TimeSpan.FromSeconds(2)); // the last rollup window is written and leaves memory
        var warm = await MemoryAsync(pid);
        // The transactions counter lags (a backend publishes its counts at most once a second): the memory
        // measurement above gives the phase's last counts time to arrive.
        var afterFirst = await Scenarios.TransactionsAsync(stack.ConnectionString);
        first = first with { Transactions = afterFirst - transactions };

        var auditBefore = await Scenarios.AuditStorage.MeasureAsync(stack);
        var cachedStart = DateTimeOffset.UtcNow;
        var cached = await LoadTools.WrkAsync(broker, key, null, Prefix, accounts, seconds: cachedSeconds);
        var (audit, written) = await AuditWrittenAsync(stack, auditBefore, cached.Requests);
        var touched = await TouchedRowsAsync(stack, cachedStart);
        await stack.StopBrokersAsync();
        await Task.Delay(1500); // PostgreSQL publishes a backend's counters when it ends, give it a moment
        var cachedTransactions = await Scenarios.TransactionsAsync(stack.ConnectionString) - afterFirst;
        var upstream = await UpstreamCallsAsync(stack) - upstreamBefore;
        return new Point(accounts, inDatabase, seeding, startUp, idle, warm, first, cached, cachedTransactions, touched with { Storage = audit, WrittenAfter = written }, upstream);
    }

    /// <summary>
    /// Clients with one account grant each (account i mod N), by SQL, measured idle after a fresh start against the
    /// point with the same accounts without them; then removed, so that the later points are without them too.
    /// </summary>
    private static async Task<ClientsPoint> ClientsAsync(Stack stack, int clients, int accounts, Point baseline, int starts)
    {
        var watch = Stopwatch.StartNew();
        await using (var connection = new NpgsqlConnection(stack.ConnectionString))
        {
            await connection.OpenAsync();
            // Keys in the broker's format ("brk_" + base64url of 32 bytes, here a SHA-256 of a random uuid): only their
            // SHA-256 and first 12 characters are stored, and nobody uses them.
            await using var command = new NpgsqlCommand(
                """
                WITH k AS (
                    SELECT i, 'brk_' || translate(rtrim(encode(sha256(convert_to(gen_random_uuid()::text, 'UTF8')), 'base64'), '='), '+/', '-_') AS key
                      FROM generate_series(0, @clients - 1) i),
                c AS (
                    INSERT INTO clients (id, name, role, key_hash, key_prefix, created_at, updated_at)
                    SELECT gen_random_uuid(), 'scale-client-' || i, 'consumer', sha256(convert_to(key, 'UTF8')), left(key, 12), now(), now() FROM k
                    RETURNING id, name)
                INSERT INTO client_grants (id, client_id, account_id)
                SELECT gen_random_uuid(), c.id, a.id
                  FROM c JOIN accounts a ON a.name = @prefix || (substring(c.name FROM 14)::int % @accounts)
                """, connection);
            command.Parameters.AddWithValue("clients", clients);
            command.Parameters.AddWithValue("accounts", accounts);
            command.Parameters.AddWithValue("prefix", Prefix);
            var granted = await command.ExecuteNonQueryAsync();
            if (granted != clients) throw new InvalidOperationException($"{granted} client grants made, {clients} expected");
        }
        var seeding = watch.Elapsed;
        var (_, startUp, pid) = await StartAsync(stack, starts);
        var idle = await MemoryAsync(pid);
        await stack.StopBrokersAsync();
        await using (var connection = new NpgsqlConnection(stack.ConnectionString))
        {
            await connection.OpenAsync();
            await using var delete = new NpgsqlCommand("DELETE FROM clients WHERE starts_with(name, 'scale-client-')", connection); // grants cascade
            await delete.ExecuteNonQueryAsync();
        }
        return new ClientsPoint(clients, accounts, seeding, startUp, idle, baseline.StartUp, baseline.Idle);
    }

    /// <summary>
    /// Process start to /health/ready answering 200, the fastest of <paramref name="starts"/> (2 in the full run: one
    /// start on a busy two-core machine varies by a second; 1 with --quick); the last broker stays, after 2 s for its
    /// start's background work to settle.
    /// </summary>
    private static async Task<(Uri Broker, TimeSpan StartUp, int Pid)> StartAsync(Stack stack, int starts)
    {
        var startUp = TimeSpan.MaxValue;
        for (var start = 0; start < starts; start++)
        {
            if (start > 0) await stack.StopBrokersAsync();
            var watch = Stopwatch.StartNew();
            await stack.StartBrokerAsync(Settings);
            startUp = watch.Elapsed < startUp ? watch.Elapsed : startUp;
        }
        await Task.Delay(TimeSpan.FromSeconds(2));
        return (stack.Brokers.Single(), startUp, stack.BrokerPids.Single());
    }

    private static async Task<FirstFetches> FirstFetchesAsync(Stack stack, Uri broker, string key, int accounts)
    {
        // In a random order, as callers would come: not the order the rows were written in.
        var order = Enumerable.Range(0, accounts).ToArray();
        new Random(accounts).Shuffle(order);
        var latencies = new double[accounts];
        var errors = 0;
        var watch = Stopwatch.StartNew();
        await Parallel.ForAsync(0, accounts, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) =>
        {
            var start = Stopwatch.GetTimestamp();
            var (status, _) = await stack.FetchAsync(broker, $"{Prefix}{order[i]}", key);
            latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            if ((int)status != 200) Interlocked.Increment(ref errors);
        });
        var seconds = watch.Elapsed.TotalSeconds;
        return new FirstFetches(accounts, errors, accounts / seconds, Scenarios.Percentile([.. latencies], 50), Scenarios.Percentile([.. latencies], 99), 0);
    }

    /// <summary>RSS first (the gcdump's collection would shrink the heap it counts), then the heap retained after a full collection.</summary>
    private static async Task<Memory> MemoryAsync(int pid)
    {
        var rss = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        return new Memory(long.Parse(rss, CultureInfo.InvariantCulture) * 1024, await RetainedHeapAsync(pid));
    }

    /// <summary>
    /// dotnet-gcdump induces a full blocking collection and walks what survived; its report's first line is
    /// "  602,866  GC Heap bytes". DOTNET_GCDUMP names the tool; bench/run.sh installs it in ~/.dotnet/tools.
    /// </summary>
    private static async Task<long> RetainedHeapAsync(int pid)
    {
        var tool = Environment.GetEnvironmentVariable("DOTNET_GCDUMP") is { Length: > 0 } path
            ? path
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet/tools/dotnet-gcdump");
        var file = Path.Combine(Path.GetTempPath(), $"broker-bench-{pid}-{Guid.NewGuid():N}.gcdump");
        try
        {
            await RunAsync(tool, ["collect", "-p", pid.ToString(CultureInfo.InvariantCulture), "-o", file, "-t", "300"]);
            var report = await RunAsync(tool, ["report", file]);
            var match = HeapBytes().Match(report);
            if (!match.Success) throw new InvalidOperationException($"dotnet-gcdump report printed no heap size:\n{report}");
            return long.Parse(match.Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static async Task<string> RunAsync(string tool, string[] arguments)
    {
        var start = new ProcessStartInfo(tool, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{tool} {string.Join(' ', arguments)}: exit {process.ExitCode}\n{await stdout}{await stderr}");
        return await stdout;
    }

    private static async Task<long> AccountsInDatabaseAsync(Stack stack)
    {
        await using var connection = new NpgsqlConnection(stack.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM accounts", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<int> UpstreamCallsAsync(Stack stack)
    {
        var counters = await stack.SimCountersAsync();
        return counters["total_logins"]!.GetValue<int>() + counters["total_refreshes"]!.GetValue<int>();
    }

    /// <summary>
    /// The trail once the writer has caught up: with many accounts a window's rollups are many rows to merge, and the
    /// writer can fall seconds behind the run (windows pile up in memory meanwhile). Waits until the served count
    /// reaches the fetches wrk counted, or stops growing for 30 s (a merge in progress commits all at once: at 100,000 accounts one took 10 s), 2 min at most.
    /// </summary>
    private static async Task<(Scenarios.AuditStorage Growth, TimeSpan After)> AuditWrittenAsync(Stack stack, Scenarios.AuditStorage before, long served)
    {
        var watch = Stopwatch.StartNew();
        var last = await Scenarios.AuditStorage.MeasureAsync(stack);
        var changed = TimeSpan.Zero;
        while (last.Events - before.Events < served && watch.Elapsed - changed < TimeSpan.FromSeconds(30) && watch.Elapsed < TimeSpan.FromMinutes(2))
        {
            await Task.Delay(500);
            var now = await Scenarios.AuditStorage.MeasureAsync(stack);
            if (now.Events != last.Events) changed = watch.Elapsed;
            if (Environment.GetEnvironmentVariable("BENCH_VERBOSE") == "1")
                Console.WriteLine($"  audit after {watch.Elapsed.TotalSeconds:0.0} s: {now.Events - before.Events:N0} of {served:N0} served counted");
            last = now;
        }
        // The last window (a second) is written even when the count was reached before it, so the rows are complete.
        await Task.Delay(TimeSpan.FromSeconds(2));
        return (await Scenarios.AuditStorage.MeasureAsync(stack) - before, changed);
    }

    /// <summary>The rows the run wrote or added to: those whose last fetch came since it began.</summary>
    private static async Task<CachedAudit> TouchedRowsAsync(Stack stack, DateTimeOffset since)
    {
        await using var connection = new NpgsqlConnection(stack.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            """
            SELECT count(*), count(DISTINCT account_id), count(DISTINCT period_start) FROM audit_events
             WHERE action = 'token.served' AND period_start IS NOT NULL AND coalesce(last_at, at) >= @since
            """, connection);
        command.Parameters.AddWithValue("since", since);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return new CachedAudit(new Scenarios.AuditStorage(0, 0, 0), reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    [GeneratedRegex(@"([\d,]+)\s+GC Heap bytes")]
    private static partial Regex HeapBytes();
}
