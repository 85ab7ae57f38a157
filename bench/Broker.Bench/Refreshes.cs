using System.Diagnostics;
using Npgsql;

namespace Broker.Bench;

/// <summary>
/// 6. How many refreshes the broker achieves when many accounts need one at once, and whether the ahead-of-time loop
/// keeps a large number of accounts fresh. Each refresh holds the account's row lock and a pooled connection for the
/// whole upstream call, so the pool and the loop's concurrency bound it: both are parameters here.
/// </summary>
/// <remarks>
/// The accounts are copies of one simplejwt account (<see cref="Seeding.CopiesAsync"/>): simplejwt without rotation keeps
/// its refresh token valid after use, as Progeny's upstream does by default, so the copies may share one chain and every
/// refresh is a real refresh at the simulator, none a login.
/// </remarks>
public static class Refreshes
{
    public const string Provider = "sim-simplejwt";

    public sealed record BurstResult(int Instances, int PoolSize, int Expiring, double Seconds, int UpstreamRefreshes, int Logins,
        int Errors, double P50Ms, double P99Ms, int MaxConnections, int MaxLockWaits, string ErrorStatuses = "")
    {
        public double RefreshesPerSecond => Seconds == 0 ? 0 : Expiring / Seconds;
    }

    public sealed record AheadResult(int Accounts, int Instances, int LifetimeSeconds, int Concurrency, int Seconds, int UpstreamRefreshes,
        int Logins, double PeakRefreshesPerSecond, long Fetches, long ServedExpired, int Errors, int RefreshedOnDemand, int MaxConnections,
        int MaxLockWaits, int LeftExpired, double FetchP50Ms = 0, double FetchP99Ms = 0);

    /// <summary>
    /// 1 to 10,000 accounts expiring at once on 1 and 3 instances with a pool of 90, and 1,000 on one instance with a pool
    /// of 10 (the quick run: 100 on each). BENCH_BURSTS=instances:pool:expiring,… chooses others.
    /// </summary>
    /// <remarks>The pool is 90, not Npgsql's default 100: three instances × 100 would reach the benchmark's PostgreSQL's
    /// max_connections (300), and the last connections would be refused (docs/operations.md, "How many connections").</remarks>
    public static IEnumerable<(int Instances, int Pool, int Expiring)> BurstRuns(bool quick) =>
        Environment.GetEnvironmentVariable("BENCH_BURSTS") is { Length: > 0 } chosen // e.g. "1:100:1000,3:10:1000"
            ? chosen.Split(',').Select(r => r.Split(':').Select(int.Parse).ToArray()).Select(r => (r[0], r[1], r[2]))
            : from instances in new[] { 1, 3 }
        from run in new (int Pool, int Expiring)[] { (90, 1), (90, 100), (90, 1000), (90, 10_000), (10, 1000) }
        where (quick ? run.Expiring == 100 : !(instances == 3 && run.Pool == 10)) // the small pool once is enough: the full run stays under 20 min
        select (instances, run.Pool, run.Expiring);

    /// <summary>
    /// Accounts whose stored access tokens all expired a moment ago, then one caller per account, all released at once
    /// against fresh instances: the time until every caller has a token, the upstream refreshes it took, connections in
    /// use and lock waits (sampled every 50 ms).
    /// </summary>
    public static async Task<List<BurstResult>> BurstsAsync(Stack stack, IEnumerable<(int Instances, int Pool, int Expiring)> runs, int latencyMs = 50)
    {
        var results = new List<BurstResult>();
        var key = await SetUpAsync(stack);
        await stack.SimAsync(HttpMethod.Put, "/_sim/settings", new { latency_ms = latencyMs });
        foreach (var (instances, pool, expiring) in runs)
        {
            await Seeding.CopiesAsync(stack, "burst-", expiring + 1);
            await ExecuteAsync(stack.ConnectionString,
                $"UPDATE accounts SET access_expires_at = now() - interval '1 second' WHERE name LIKE 'burst-%' AND split_part(name, '-', 2)::int <= {expiring}");
            var brokers = await stack.StartBrokersAsync(instances, Settings(stack, pool));
            // burst-0 is not measured: its refresh warms the code and connections of the first instance, its fetch the others'.
            foreach (var b in brokers) await stack.FetchAsync(b, "burst-0", key);
            var before = await stack.SimCountersAsync();
            using var sampling = new CancellationTokenSource();
            var sampler = SampleAsync(stack.ConnectionString, sampling.Token);
            var watch = Stopwatch.StartNew();
            var done = await Task.WhenAll(Enumerable.Range(0, expiring).Select(async i =>
            {
                var started = Stopwatch.GetTimestamp();
                var (status, _) = await stack.FetchAsync(brokers[i % instances], $"burst-{i + 1}", key);
                return (Ok: (int)status == 200, Ms: Stopwatch.GetElapsedTime(started).TotalMilliseconds, Status: (int)status);
            }));
            watch.Stop();
            await sampling.CancelAsync();
            var (connections, lockWaits) = await sampler;
            var after = await stack.SimCountersAsync();
            await stack.StopBrokersAsync();
            results.Add(new BurstResult(instances, pool, expiring, watch.Elapsed.TotalSeconds,
                Total(after, "total_refreshes") - Total(before, "total_refreshes"), Total(after, "total_logins") - Total(before, "total_logins"),
                done.Count(d => !d.Ok), Scenarios.Percentile([.. done.Select(d => d.Ms)], 50), Scenarios.Percentile([.. done.Select(d => d.Ms)], 99),
                connections, lockWaits,
                string.Join(" ", done.Where(d => !d.Ok).GroupBy(d => d.Status).Select(g => $"{g.Key}×{g.Count()}"))));
            Console.WriteLine($"  burst: {results[^1]}");
        }
        await stack.SimAsync(HttpMethod.Put, "/_sim/settings", new { latency_ms = 0 });
        return results;
    }

    public sealed record AheadSettings(int Accounts, int Instances, int LifetimeSeconds, int Concurrency, int Seconds, int LatencyMs = 50);

    /// <summary>
    /// 100,000 accounts with 5-minute tokens over three instances, each refreshing 16 at once (the quick run: 1,000 with
    /// 30-second tokens); BENCH_AHEAD=accounts:lifetime:concurrency:seconds chooses others.
    /// </summary>
    public static AheadSettings AheadRun(bool quick) =>
        Environment.GetEnvironmentVariable("BENCH_AHEAD") is { Length: > 0 } chosen
            ? chosen.Split(':').Select(int.Parse).ToArray() is var a ? new AheadSettings(a[0], 3, a[1], a[2], a[3]) : null!
            : quick ? new AheadSettings(1000, 3, 30, 16, 30) : new AheadSettings(100_000, 3, 300, 16, 180);

    /// <summary>
    /// <c>Accounts</c> accounts with tokens of <c>LifetimeSeconds</c>, obtained at times spread
    /// over the part of a lifetime before they are due (as a running deployment has them, not all at once), each served
    /// once by one of the instances, then fetched at random for <c>Seconds</c> while the ahead-of-time loop
    /// keeps them fresh. Counted: upstream refreshes, fetches answered with an expired token (must be none), refreshes a
    /// caller had to wait for (the loop fell behind), connections in use and lock waits, and tokens left expired.
    /// </summary>
    public static async Task<AheadResult> AheadAtScaleAsync(Stack stack, AheadSettings run)
    {
        var (accounts, instances, lifetimeSeconds, concurrency, seconds, latencyMs) = run;
        var key = await SetUpAsync(stack);
        await Seeding.CopiesAsync(stack, "ahead-", accounts); // with the template's token, valid for an hour
        var settings = new Dictionary<string, string>
        {
            ["ConnectionStrings__Broker"] = $"{stack.ConnectionString};Maximum Pool Size=90", // 3 × 90 within max_connections 300
            ["Broker__AheadOfTime__Concurrency"] = concurrency.ToString(),
            ["Broker__AheadOfTime__Interval"] = "00:00:01",
        };
        if (lifetimeSeconds < 120)
        {
            // The quick run's short tokens: the default margins (30 s of clock skew, 30 s of validity) would exceed them.
            settings["Broker__Tokens__ClockSkew"] = "00:00:00";
            settings["Broker__Tokens__DefaultMinValidity"] = "00:00:03";
        }
        var brokers = await stack.StartBrokersAsync(instances, settings);

        // Each account used once, through one instance (which keeps it fresh from now on), while every token has an
        // hour left: the warm-up refreshes nothing however long it takes.
        await Parallel.ForAsync(0, accounts, new ParallelOptions { MaxDegreeOfParallelism = 48 }, async (i, _) =>
            await stack.FetchAsync(brokers[i % instances], $"ahead-{i}", key));
        // Then the stored tokens get the lifetime of the run, obtained at times spread over the 0.6 of a lifetime before
        // they fall due (at 0.7, less up to 0.1 of jitter): the first are due now, the last in 0.6 of a lifetime. The
        // instances are told as an admin's change tells them (a row of the change feed per account): they drop what
        // they hold in memory, and their loops read the new times from the database. The simulator's new tokens have
        // that lifetime too.
        await stack.SimAsync(HttpMethod.Put, "/_sim/settings", new { access_lifetime_seconds = lifetimeSeconds, latency_ms = latencyMs });
        await ExecuteAsync(stack.ConnectionString, $"""
            UPDATE accounts SET tokens_obtained_at = now() - random() * interval '{lifetimeSeconds * 0.6} seconds' WHERE name LIKE 'ahead-%';
            UPDATE accounts SET access_expires_at = tokens_obtained_at + interval '{lifetimeSeconds} seconds' WHERE name LIKE 'ahead-%';
            INSERT INTO changes (kind, subject, origin) SELECT 'account', name, 'bench' FROM accounts WHERE name LIKE 'ahead-%';
            SELECT pg_notify('broker_changes', '');
            """);
        var before = await stack.SimCountersAsync();
        var started = DateTimeOffset.UtcNow;
        using var sampling = new CancellationTokenSource();
        var sampler = SampleAsync(stack.ConnectionString, sampling.Token);
        long fetches = 0, expired = 0;
        int errors = 0, peak = 0;
        var end = DateTime.UtcNow.AddSeconds(seconds);
        var peakWatch = Task.Run(async () =>
        {
            var last = Total(before, "total_refreshes");
            while (DateTime.UtcNow < end)
            {
                await Task.Delay(1000);
                var now = Total(await stack.SimCountersAsync(), "total_refreshes");
                peak = Math.Max(peak, now - last);
                last = now;
            }
        });
        // Callers: a modest random load over every account and instance, each answer checked for expiry.
        var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
        await Parallel.ForAsync(0, 16, async (worker, _) =>
        {
            var random = new Random(worker);
            while (DateTime.UtcNow < end)
            {
                var sent = Stopwatch.GetTimestamp();
                var (status, body) = await stack.FetchAsync(brokers[random.Next(instances)], $"ahead-{random.Next(accounts)}", key);
                latencies.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
                Interlocked.Increment(ref fetches);
                if ((int)status != 200) Interlocked.Increment(ref errors);
                else if (body!["expires_at"]!.GetValue<DateTimeOffset>() <= DateTimeOffset.UtcNow) Interlocked.Increment(ref expired);
            }
        });
        await peakWatch;
        await sampling.CancelAsync();
        var (connections, lockWaits) = await sampler;
        var after = await stack.SimCountersAsync();
        var leftExpired = (int)(long)(await ScalarAsync(stack.ConnectionString,
            "SELECT count(*) FROM accounts WHERE name LIKE 'ahead-%' AND access_expires_at < now()"))!;
        await Task.Delay(1000); // the audit writer's last batch
        var onDemand = (int)(long)(await ScalarAsync(stack.ConnectionString,
            $"SELECT count(*) FROM audit_events WHERE action = 'token.refreshed' AND client_name <> 'broker:ahead-of-time' AND at >= '{started:O}'"))!;
        await stack.StopBrokersAsync();
        await stack.SimAsync(HttpMethod.Put, "/_sim/settings", new { access_lifetime_seconds = 300, latency_ms = 0 });
        return new AheadResult(accounts, instances, lifetimeSeconds, concurrency, seconds,
            Total(after, "total_refreshes") - Total(before, "total_refreshes"), Total(after, "total_logins") - Total(before, "total_logins"),
            peak, fetches, expired, errors, onDemand, connections, lockWaits, leftExpired,
            Scenarios.Percentile([.. latencies], 50), Scenarios.Percentile([.. latencies], 99));
    }

    private static Dictionary<string, string> Settings(Stack stack, int pool) => new()
    {
        ["Broker__AheadOfTime__Enabled"] = "false",
        ["ConnectionStrings__Broker"] = $"{stack.ConnectionString};Maximum Pool Size={pool}",
        ["Broker__Tokens__ClockSkew"] = "00:00:00",
        ["Broker__Tokens__DefaultMinValidity"] = "00:00:00",
        ["Broker__Tokens__FreshTokenWindow"] = "00:00:00",
    };

    /// <summary>The simplejwt provider, its template account logged in once, and a consumer of the provider.</summary>
    private static async Task<string> SetUpAsync(Stack stack)
    {
        await stack.SimAsync(HttpMethod.Put, "/_sim/settings",
            new { access_lifetime_seconds = 3600, refresh_lifetime_seconds = 86_400, simplejwt_rotate_refresh_tokens = false, latency_ms = 0 });
        var broker = await stack.StartBrokerAsync(new());
        var providers = await stack.AdminAsync(HttpMethod.Get, "/admin/providers");
        string key;
        if (!providers!.AsArray().Any(p => p!["name"]!.GetValue<string>() == Provider))
        {
            await stack.AdminAsync(HttpMethod.Post, "/admin/providers",
                new { name = Provider, dialect = "simplejwt", token_url = new Uri(stack.Simulator, "/api/v3/accounts/token/obtain/").ToString() });
            await stack.SimAsync(HttpMethod.Post, "/_sim/users", new { username = "refresher", password = "pw-refresher" });
            foreach (var prefix in new[] { "burst-", "ahead-" })
                await stack.AdminAsync(HttpMethod.Post, "/admin/accounts",
                    new { name = prefix + "0", provider = Provider, username = "refresher", password = "pw-refresher" });
        }
        key = await Seeding.ConsumerAsync(stack, $"bench-refresh-{Guid.NewGuid():N}"[..30], Provider);
        foreach (var prefix in new[] { "burst-", "ahead-" })
        {
            var (status, _) = await stack.FetchAsync(broker, prefix + "0", key);
            if ((int)status != 200) throw new InvalidOperationException($"{prefix}0: {status}");
        }
        await stack.StopBrokersAsync();
        return key;
    }

    /// <summary>The most connections the broker held and the most lock waits at once, sampled every 50 ms.</summary>
    private static async Task<(int Connections, int LockWaits)> SampleAsync(string connectionString, CancellationToken ct)
    {
        int connections = 0, waits = 0;
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(CancellationToken.None);
        await using var command = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'),
                   (SELECT count(*) FROM pg_locks WHERE NOT granted)
            """, connection);
        while (!ct.IsCancellationRequested)
        {
            await using (var reader = await command.ExecuteReaderAsync(CancellationToken.None))
            {
                await reader.ReadAsync(CancellationToken.None);
                connections = Math.Max(connections, (int)reader.GetInt64(0));
                waits = Math.Max(waits, (int)reader.GetInt64(1));
            }
            try { await Task.Delay(50, ct); } catch (OperationCanceledException) { }
        }
        return (connections, waits);
    }

    private static int Total(System.Text.Json.Nodes.JsonNode counters, string name) => counters[name]!.GetValue<int>();

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 600 };
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<object?> ScalarAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    /// <summary>The report's section for both scenarios (either may be missing when it did not run).</summary>
    public static string Markdown(List<BurstResult> bursts, AheadResult? ahead)
    {
        var md = new System.Text.StringBuilder();
        if (bursts.Count > 0)
        {
            md.AppendLine("## 6. Many refreshes at once (simulator latency 50 ms)");
            md.AppendLine();
            md.AppendLine("Accounts whose stored tokens expired a moment ago, fresh instances, one caller per account, all released at once.");
            md.AppendLine("Each refresh holds a pooled connection and the account's row lock across its upstream call; an instance runs at most");
            md.AppendLine("`Broker:Tokens:MaxConcurrentRenewals` at once (a third of the pool). Connections and lock waits: the most at once, sampled every 50 ms.");
            md.AppendLine();
            md.AppendLine("| instances | pool per instance | accounts expiring at once | seconds until all served | refreshes/s | upstream refreshes | logins | errors | p50 ms | p99 ms | connections | lock waits |");
            md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var b in bursts)
                md.AppendLine($"| {b.Instances} | {b.PoolSize} | {b.Expiring:N0} | {b.Seconds:0.00} | {b.RefreshesPerSecond:N0} | {b.UpstreamRefreshes:N0} | {b.Logins} | " +
                              $"{b.Errors}{(b.ErrorStatuses.Length > 0 ? $" ({b.ErrorStatuses})" : "")} | {b.P50Ms:N0} | {b.P99Ms:N0} | {b.MaxConnections} | {b.MaxLockWaits} |");
            md.AppendLine();
        }
        if (ahead is { } a)
        {
            md.AppendLine($"## 7. The ahead-of-time loop at scale ({a.Accounts:N0} accounts, {a.Instances} instances, simulator latency 50 ms)");
            md.AppendLine();
            md.AppendLine($"Tokens of {a.LifetimeSeconds} s, obtained at times spread over the 0.6 of a lifetime before they fall due (as in a running");
            md.AppendLine($"deployment), each account used once through one instance, then {a.Seconds} s of random fetches over all accounts and instances");
            md.AppendLine($"while each instance refreshes up to {a.Concurrency} accounts at once (`Broker:AheadOfTime:Concurrency`). To stay ahead, the");
            md.AppendLine($"instances must refresh {a.Accounts / (a.LifetimeSeconds * 0.6):N0} accounts a second on average in this window.");
            md.AppendLine();
            md.AppendLine("| upstream refreshes | per second (mean) | per second (peak) | logins | fetches | fetch p50 / p99 ms | answered with an expired token | errors | refreshed while a caller waited | tokens expired at the end | connections | lock waits |");
            md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            md.AppendLine($"| {a.UpstreamRefreshes:N0} | {a.UpstreamRefreshes / (double)a.Seconds:N0} | {a.PeakRefreshesPerSecond:N0} | {a.Logins} | {a.Fetches:N0} | {a.FetchP50Ms:N1} / {a.FetchP99Ms:N0} | {a.ServedExpired} | {a.Errors} | " +
                          $"{a.RefreshedOnDemand:N0} | {a.LeftExpired:N0} | {a.MaxConnections} | {a.MaxLockWaits} |");
            md.AppendLine();
        }
        return md.ToString();
    }
}
