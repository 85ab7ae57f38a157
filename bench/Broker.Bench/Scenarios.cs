using System.Globalization;
using System.Diagnostics;
using System.Net.Http.Json;
using Npgsql;

namespace Broker.Bench;

public static class Scenarios
{
    public sealed record CachedFetchResult(LoadTools.LoadResult Ceiling, LoadTools.LoadResult OneAccount, LoadTools.LoadResult HundredAccounts,
        CpuShare CeilingCpu, CpuShare OneAccountCpu,
        AuditStorage OneAccountAudit, LoadTools.LoadResult OneAccountJwt);

    /// <summary>
    /// What the served tokens of a run left in audit_events: events (the sum of counts), rows, bytes (table and indexes),
    /// and the table's average bytes per row (table and indexes over all its rows).
    /// </summary>
    public sealed record AuditStorage(long Events, long Rows, long Bytes, double BytesPerRow = 0)
    {
        public double BytesPerMillion => Events == 0 ? 0 : Bytes * 1_000_000.0 / Events;
        public double RowsPerMillion => Events == 0 ? 0 : Rows * 1_000_000.0 / Events;
        /// <summary>The rows per million at the table's average row size: steadier than a run's growth by whole pages.</summary>
        public double EstimatedBytesPerMillion => RowsPerMillion * BytesPerRow;

        public static async Task<AuditStorage> MeasureAsync(Stack stack)
        {
            await using var connection = new Npgsql.NpgsqlConnection(stack.ConnectionString);
            await connection.OpenAsync();
            await using var command = new Npgsql.NpgsqlCommand(
                "SELECT coalesce(sum(count) FILTER (WHERE action = 'token.served'), 0)::bigint, count(*), pg_total_relation_size('audit_events') FROM audit_events",
                connection);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            var rows = reader.GetInt64(1);
            return new AuditStorage(reader.GetInt64(0), rows, reader.GetInt64(2), rows == 0 ? 0 : reader.GetInt64(2) / (double)rows);
        }

        public static AuditStorage operator -(AuditStorage after, AuditStorage before) =>
            new(after.Events - before.Events, after.Rows - before.Rows, after.Bytes - before.Bytes, after.BytesPerRow);
    }

    /// <summary>1. Cached fetches against the bare key-checking endpoint of the same process.</summary>
    public static async Task<CachedFetchResult> CachedFetchAsync(Stack stack, int seconds)
    {
        var broker = await stack.StartBrokerAsync(new());
        await Seeding.ProviderAsync(stack);
        await Seeding.AccountsAsync(stack, "cached-", 100);
        var key = await Seeding.ConsumerAsync(stack, "bench-cached");
        await Seeding.WarmAsync(stack, broker, "cached-", 100, key);

        // JIT and connection warm-up of both endpoints, so that neither is measured before its code is tiered up.
        var warmUp = Math.Min(3, seconds - 1); // 2 s in the quick run
        await LoadTools.WrkAsync(broker, key, "/v1/ping", seconds: warmUp);
        await LoadTools.WrkAsync(broker, key, "/v1/accounts/cached-0/token", seconds: warmUp);
        var before = CpuShare.Take(stack.BrokerPids);
        var ceiling = await LoadTools.WrkAsync(broker, key, "/v1/ping", seconds: seconds);
        var middle = CpuShare.Take(stack.BrokerPids);
        await Task.Delay(TimeSpan.FromSeconds(2)); // the warm-up's last rollup window is written
        var storedBefore = await AuditStorage.MeasureAsync(stack);
        var one = await LoadTools.WrkAsync(broker, key, "/v1/accounts/cached-0/token", seconds: seconds);
        var after = CpuShare.Take(stack.BrokerPids);
        await Task.Delay(TimeSpan.FromSeconds(2)); // the run's last rollup window is written
        var stored = await AuditStorage.MeasureAsync(stack) - storedBefore;
        var hundred = await LoadTools.WrkAsync(broker, key, null, "cached-", 100, seconds: seconds);
        // The same fetch by a service that authenticates with its workload identity (a JWT validated once, then remembered).
        var jwt = await Seeding.WorkloadTokenAsync(stack, "bench-cached");
        await LoadTools.WrkAsync(broker, jwt, "/v1/accounts/cached-0/token", seconds: warmUp);
        var oneJwt = await LoadTools.WrkAsync(broker, jwt, "/v1/accounts/cached-0/token", seconds: seconds);
        await stack.StopBrokersAsync();
        return new CachedFetchResult(ceiling, one, hundred, CpuShare.Between(before, middle), CpuShare.Between(middle, after), stored, oneJwt);
    }

    /// <param name="BrokerCpuUs">The broker process's CPU time (user and system) per request, in µs; likewise the ceiling's.</param>
    public sealed record CeilingRound(LoadTools.LoadResult Broker, LoadTools.LoadResult Ceiling, double BrokerCpuUs, double CeilingCpuUs)
    {
        public double Ratio => Ceiling.RequestsPerSecond == 0 ? 0 : Broker.RequestsPerSecond / Ceiling.RequestsPerSecond;
        /// <summary>The ceiling's CPU per request over the broker's: what the broker would serve on the same CPU, steadier than throughput.</summary>
        public double CpuRatio => BrokerCpuUs == 0 ? 0 : CeilingCpuUs / BrokerCpuUs;
    }

    /// <summary>
    /// 1b. The cached fetch against a separate minimal ASP.NET Core app on the same machine (bench/Broker.Bench.Ceiling:
    /// the bearer key's SHA-256 checked in constant time, the same JSON shape): what a user's service could get with no
    /// broker pipeline at all. Both warmed first (past tiered compilation: the broker has many more methods to tier up),
    /// then measured interleaved (broker, ceiling, broker, ceiling) with the same load tool and settings, so that the
    /// machine's drift falls on both alike; then both at half the ceiling's rate, for the tail.
    /// </summary>
    public static async Task<SeparateCeilingResult> SeparateCeilingAsync(Stack stack, bool quick)
    {
        int seconds = quick ? 3 : 8, rounds = quick ? 1 : 3, halfRounds = quick ? 1 : 3, warmUp = quick ? 3 : 20;
        var broker = await stack.StartBrokerAsync(new());
        await Seeding.ProviderAsync(stack);
        await Seeding.AccountsAsync(stack, "ceiling-", 1);
        var key = await Seeding.ConsumerAsync(stack, "bench-ceiling");
        await Seeding.WarmAsync(stack, broker, "ceiling-", 1, key);
        var ceiling = await stack.StartCeilingAsync(key);
        const string Path = "/v1/accounts/ceiling-0/token";
        await LoadTools.WrkAsync(broker, key, Path, connections: 32, seconds: warmUp);
        await LoadTools.WrkAsync(ceiling, key, Path, connections: 32, seconds: warmUp);
        var full = new List<CeilingRound>();
        for (var round = 0; round < rounds; round++)
        {
            var (b, bCpu) = await WithCpuAsync(stack.BrokerPids.Single(), () => LoadTools.WrkAsync(broker, key, Path, connections: 32, seconds: seconds));
            var (c, cCpu) = await WithCpuAsync(stack.CeilingPid, () => LoadTools.WrkAsync(ceiling, key, Path, connections: 32, seconds: seconds));
            full.Add(new CeilingRound(b, c, bCpu, cCpu));
        }
        var halfRate = (int)(full.Average(r => r.Ceiling.RequestsPerSecond) / 2);
        var half = new List<CeilingRound>();
        for (var round = 0; round < halfRounds; round++)
        {
            var (b, bCpu) = await WithCpuAsync(stack.BrokerPids.Single(), () => LoadTools.HeyAsync(new Uri(broker, Path), key, halfRate, seconds: seconds));
            var (c, cCpu) = await WithCpuAsync(stack.CeilingPid, () => LoadTools.HeyAsync(new Uri(ceiling, Path), key, halfRate, seconds: seconds));
            half.Add(new CeilingRound(b, c, bCpu, cCpu));
        }
        await stack.StopCeilingAsync();
        await stack.StopBrokersAsync();
        return new SeparateCeilingResult(full, halfRate, half);
    }

    /// <param name="Full">The full-speed rounds (wrk).</param>
    /// <param name="HalfRate">Half the ceiling's mean full-speed rate, in requests/s.</param>
    /// <param name="Half">The rounds at that rate (hey).</param>
    public sealed record SeparateCeilingResult(List<CeilingRound> Full, int HalfRate, List<CeilingRound> Half)
    {
        /// <summary>The broker's full-speed requests over the ceiling's, all rounds summed.</summary>
        public double Ratio => Full.Sum(r => r.Broker.RequestsPerSecond) / Math.Max(1, Full.Sum(r => r.Ceiling.RequestsPerSecond));
        /// <summary>The ceiling's CPU per request over the broker's, all full-speed rounds together.</summary>
        public double CpuRatio => Full.Sum(r => r.CeilingCpuUs) / Math.Max(0.001, Full.Sum(r => r.BrokerCpuUs));
        /// <summary>The medians of the half-rate rounds' p99s: the broker's over the ceiling's.</summary>
        public double HalfRateP99Ratio => Median(Half.Select(r => r.Broker.P99Ms)) / Math.Max(0.001, Median(Half.Select(r => r.Ceiling.P99Ms)));

        public static double Median(IEnumerable<double> values)
        {
            var sorted = values.Order().ToList();
            return sorted.Count == 0 ? 0 : sorted[sorted.Count / 2];
        }
    }

    /// <summary>A load run and the CPU time one process spent on each of its requests, in µs.</summary>
    private static async Task<(LoadTools.LoadResult Load, double CpuUs)> WithCpuAsync(int pid, Func<Task<LoadTools.LoadResult>> run)
    {
        var before = CpuShare.ProcessTicks(pid);
        var load = await run();
        var ticks = CpuShare.ProcessTicks(pid) - before;
        return (load, load.Requests == 0 ? 0 : ticks * 1e6 / CpuShare.TicksPerSecond / load.Requests);
    }

    public sealed record StormResult(int Hosts, int Callers, int Expiries, int MaxRefreshesPerExpiry, int TotalRefreshes, int Logins, int Reuses, int Errors, double P50Ms, double P99Ms);

    /// <summary>2. N callers over 1 or 3 instances released at the moment the token expires.</summary>
    /// <param name="quick">100 callers only (each row waits for several expiries of its 3 s token).</param>
    public static async Task<List<StormResult>> RefreshStormAsync(Stack stack, int latencyMs, int expiries, bool quick = false)
    {
        var results = new List<StormResult>();
        await stack.SimAsync(HttpMethod.Put, "/_sim/settings", new { access_lifetime_seconds = 3, latency_ms = latencyMs });
        foreach (var hosts in new[] { 1, 3 })
        {
            var brokers = await stack.StartBrokersAsync(hosts, StormSettings);
            var key = await Seeding.ConsumerAsync(stack, $"bench-storm-{hosts}");

            foreach (var callers in quick ? [100] : new[] { 10, 100, 1000 })
            {
                var account = $"storm-{hosts}-{callers}-";
                await Seeding.AccountsAsync(stack, account, 1);
                account += "0";
                var latencies = new List<double>();
                int errors = 0, maxRefreshes = 0, totalRefreshes = 0;
                var (_, first) = await stack.FetchAsync(brokers[0], account, key);
                var expiresAt = first!["expires_at"]!.GetValue<DateTimeOffset>();

                // Unmeasured expiries first, one per instance with all callers on it (so each instance has refreshed
                // and stored once), then one across all: the steady state is measured, not the JIT of first use.
                // ColdStormAsync measures what a fresh instance's first storm costs.
                var warmUps = hosts == 1 ? 1 : hosts + 1;
                for (var e = -warmUps; e < expiries; e++)
                {
                    var only = e < 0 && e + warmUps < hosts ? e + warmUps : -1; // the one instance of this warm-up, or -1: all
                    Uri BrokerFor(int caller) => only >= 0 ? brokers[only] : brokers[caller % hosts];
                    await Task.WhenAll(Enumerable.Range(0, callers).Select(i => stack.Http.GetAsync(new Uri(BrokerFor(i), "/health/live"))));
                    var refreshesBefore = Refreshes(await stack.SimCountersAsync(), account);
                    var wait = expiresAt - DateTimeOffset.UtcNow;
                    if (wait > TimeSpan.Zero) await Task.Delay(wait + TimeSpan.FromMilliseconds(2));

                    var fetches = Enumerable.Range(0, callers).Select(async i =>
                    {
                        var watch = Stopwatch.StartNew();
                        var (status, body) = await stack.FetchAsync(BrokerFor(i), account, key);
                        return (Ok: (int)status == 200, Ms: watch.Elapsed.TotalMilliseconds, Body: body);
                    }).ToList();
                    var done = await Task.WhenAll(fetches);
                    if (e < 0)
                    {
                        errors += done.Count(d => !d.Ok);
                        expiresAt = done.Where(d => d.Ok).Select(d => d.Body!["expires_at"]!.GetValue<DateTimeOffset>()).DefaultIfEmpty(expiresAt.AddSeconds(3)).Max();
                        continue;
                    }
                    if (Environment.GetEnvironmentVariable("BENCH_VERBOSE") == "1")
                        for (var h = 0; h < hosts; h++)
                            Console.WriteLine($"  hosts={hosts} callers={callers} expiry={e} host={h}: " +
                                string.Join(" ", done.Where((_, i) => i % hosts == h).Select(d => d.Ms).Order().Take(3).Select(ms => $"{ms:0}")) + " .. " +
                                $"{done.Where((_, i) => i % hosts == h).Max(d => d.Ms):0} ms");
                    errors += done.Count(d => !d.Ok);
                    latencies.AddRange(done.Select(d => d.Ms));
                    var refreshed = Refreshes(await stack.SimCountersAsync(), account) - refreshesBefore;
                    maxRefreshes = Math.Max(maxRefreshes, refreshed);
                    totalRefreshes += refreshed;
                    expiresAt = done.Where(d => d.Ok).Select(d => d.Body!["expires_at"]!.GetValue<DateTimeOffset>()).DefaultIfEmpty(expiresAt.AddSeconds(3)).Max();
                }

                var after = await stack.SimCountersAsync();
                var user = after["users"]![account]!;
                results.Add(new StormResult(hosts, callers, expiries, maxRefreshes, totalRefreshes,
                    user["logins"]!.GetValue<int>(), user["refresh_reuses"]!.GetValue<int>(), errors,
                    Percentile(latencies, 50), Percentile(latencies, 99)));
            }
            await stack.StopBrokersAsync();
        }
        await stack.SimAsync(HttpMethod.Put, "/_sim/settings", new { access_lifetime_seconds = 300, latency_ms = 0 });
        return results;
    }

    public sealed record ColdStormResult(int Hosts, int Callers, int Rounds, int MaxRefreshesPerRound, int Errors, double P50Ms, double P99Ms, double MaxMs);

    /// <summary>2b. The first storm that freshly started instances see: what the steady-state rows leave out.</summary>
    public static async Task<ColdStormResult> ColdStormAsync(Stack stack, int hosts, int callers, int rounds, int latencyMs)
    {
        await stack.SimAsync(HttpMethod.Put, "/_sim/settings", new { access_lifetime_seconds = 3, latency_ms = latencyMs });
        var latencies = new List<double>();
        int errors = 0, maxRefreshes = 0;
        for (var round = 0; round < rounds; round++)
        {
            var brokers = await stack.StartBrokersAsync(hosts, StormSettings);
            var key = await Seeding.ConsumerAsync(stack, $"bench-cold-{round}");
            var account = $"cold-{round}-";
            await Seeding.AccountsAsync(stack, account, 1);
            account += "0";
            var (_, first) = await stack.FetchAsync(brokers[0], account, key);
            var expiresAt = first!["expires_at"]!.GetValue<DateTimeOffset>();
            await Task.WhenAll(Enumerable.Range(0, callers).Select(i => stack.Http.GetAsync(new Uri(brokers[i % hosts], "/health/live"))));
            var refreshesBefore = Refreshes(await stack.SimCountersAsync(), account);
            var wait = expiresAt - DateTimeOffset.UtcNow;
            if (wait > TimeSpan.Zero) await Task.Delay(wait + TimeSpan.FromMilliseconds(2));
            var done = await Task.WhenAll(Enumerable.Range(0, callers).Select(async i =>
            {
                var watch = Stopwatch.StartNew();
                var (status, _) = await stack.FetchAsync(brokers[i % hosts], account, key);
                return (Ok: (int)status == 200, Ms: watch.Elapsed.TotalMilliseconds);
            }));
            errors += done.Count(d => !d.Ok);
            latencies.AddRange(done.Select(d => d.Ms));
            maxRefreshes = Math.Max(maxRefreshes, Refreshes(await stack.SimCountersAsync(), account) - refreshesBefore);
            await stack.StopBrokersAsync();
        }
        await stack.SimAsync(HttpMethod.Put, "/_sim/settings", new { access_lifetime_seconds = 300, latency_ms = 0 });
        return new ColdStormResult(hosts, callers, rounds, maxRefreshes, errors, Percentile(latencies, 50), Percentile(latencies, 99), latencies.Max());
    }

    /// <summary>Tokens are renewed only when expired, and only on demand: callers released at expiry all miss.</summary>
    private static readonly Dictionary<string, string> StormSettings = new()
    {
        ["Broker__Tokens__ClockSkew"] = "00:00:00",
        ["Broker__Tokens__DefaultMinValidity"] = "00:00:00",
        ["Broker__Tokens__FreshTokenWindow"] = "00:00:00",
        ["Broker__AheadOfTime__Enabled"] = "false",
    };

    public sealed record ManyAccountsResult(int Accounts, LoadTools.LoadResult Load, long Transactions, double TransactionsPerRequest, TimeSpan SeedTime);

    /// <summary>3. 10,000 accounts with valid stored tokens (SQL copies of one, <see cref="Seeding.CopiesAsync"/>), a cold broker, random fetches.</summary>
    public static async Task<ManyAccountsResult> ManyAccountsAsync(Stack stack, int accounts, int seconds)
    {
        var seed = Stopwatch.StartNew();
        var broker = await stack.StartBrokerAsync(new() { ["Broker__AheadOfTime__Enabled"] = "false" });
        // Before the copies: a broker started after them reads the consumer's provider grant with every account.
        var key = await Seeding.ConsumerAsync(stack, "bench-many");
        await Seeding.TemplateAsync(stack, broker, "many-", key);
        await stack.StopBrokersAsync();
        await Seeding.CopiesAsync(stack, "many-", accounts);
        seed.Stop();

        broker = await stack.StartBrokerAsync(new() { ["Broker__AheadOfTime__Enabled"] = "false" }); // cold: empty memory
        var before = await TransactionsAsync(stack.ConnectionString);
        var load = await LoadTools.WrkAsync(broker, key, null, "many-", accounts, seconds: seconds);
        await stack.StopBrokersAsync();
        await Task.Delay(1500); // PostgreSQL publishes a backend's counters when it ends, give it a moment
        var transactions = await TransactionsAsync(stack.ConnectionString) - before;
        return new ManyAccountsResult(accounts, load, transactions, transactions / (double)Math.Max(1, load.Requests), seed.Elapsed);
    }

    public sealed record VersusResult(int Services, int Expiries, int WithoutBroker, int WithBroker);

    /// <summary>4. The upstream calls of 50 services each logging in for itself, beside the broker's for the same work.</summary>
    public static async Task<VersusResult> VersusNoBrokerAsync(Stack stack, int services, int expiries)
    {
        await stack.SimAsync(HttpMethod.Put, "/_sim/settings", new { access_lifetime_seconds = 3, latency_ms = 0 });
        await stack.SimAsync(HttpMethod.Post, "/_sim/users", new { username = "shared", password = "pw-shared", org_name = "UofMDTest" });

        // Without a broker: each service logs in, then refreshes its own chain at each expiry (the best case).
        var before = (await stack.SimCountersAsync())["total_requests"]!.GetValue<int>();
        await Task.WhenAll(Enumerable.Range(0, services).Select(async _ =>
        {
            var login = await (await stack.Http.PostAsJsonAsync(new Uri(stack.Simulator, "/api/org_token/"),
                new { username = "shared", password = "pw-shared", org_name = "UofMDTest" })).Content.ReadFromJsonAsync<Dictionary<string, object>>();
            var refresh = login!["refresh"].ToString();
            for (var e = 0; e < expiries; e++)
            {
                await Task.Delay(TimeSpan.FromSeconds(3));
                var next = await (await stack.Http.PostAsJsonAsync(new Uri(stack.Simulator, "/api/org_token/refresh/"), new { refresh }))
                    .Content.ReadFromJsonAsync<Dictionary<string, object>>();
                refresh = next!["refresh"].ToString();
            }
        }));
        var without = (await stack.SimCountersAsync())["total_requests"]!.GetValue<int>() - before;

        // With the broker: the same 50 services ask it for a token once a second over the same span.
        var broker = await stack.StartBrokerAsync(new() { ["Broker__AheadOfTime__Enabled"] = "false" });
        await Seeding.AccountsAsync(stack, "versus-", 1);
        var key = await Seeding.ConsumerAsync(stack, "bench-versus");
        before = (await stack.SimCountersAsync())["total_requests"]!.GetValue<int>();
        var end = DateTime.UtcNow.AddSeconds(3 * expiries + 1);
        await Task.WhenAll(Enumerable.Range(0, services).Select(async _ =>
        {
            while (DateTime.UtcNow < end)
            {
                await stack.FetchAsync(broker, "versus-0", key);
                await Task.Delay(1000);
            }
        }));
        var with = (await stack.SimCountersAsync())["total_requests"]!.GetValue<int>() - before;
        await stack.StopBrokersAsync();
        await stack.SimAsync(HttpMethod.Put, "/_sim/settings", new { access_lifetime_seconds = 300, latency_ms = 0 });
        return new VersusResult(services, expiries, without, with);
    }

    private static int Refreshes(System.Text.Json.Nodes.JsonNode counters, string account) =>
        counters["users"]?[account]?["refreshes"]?.GetValue<int>() ?? 0;

    internal static double Percentile(List<double> values, int p)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(p / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    internal static async Task<long> TransactionsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
