using System.Diagnostics;
using System.Text;

namespace Broker.Bench;

public static class Report
{
    public static string Markdown(Scenarios.CachedFetchResult cached, Scenarios.SeparateCeilingResult separate, List<Scenarios.StormResult> storms, Scenarios.ColdStormResult cold,
        Scenarios.ManyAccountsResult many, Scenarios.VersusResult versus, Scale.Result scale, bool quick)
    {
        var md = new StringBuilder();
        md.AppendLine("# Benchmarks");
        md.AppendLine();
        md.AppendLine($"Measured {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC by `bench/run.sh`{(quick ? " --quick" : "")} at commit {Commit()}, on {Machine()}.");
        md.AppendLine("PostgreSQL, the provider simulator, the broker and the load generator are real processes on one machine, on loopback,");
        md.AppendLine("so the load generator takes CPU from the broker: the figures are a floor, not a ceiling.");
        md.AppendLine();

        md.AppendLine("## 1. Cached fetch (`GET /v1/accounts/{a}/token`, audit on)");
        md.AppendLine();
        md.AppendLine("| load | requests/s | p50 ms | p99 ms | errors |");
        md.AppendLine("|---|---:|---:|---:|---:|");
        Row(md, "bare endpoint, same process (key check only, behind the whole pipeline)", cached.Ceiling);
        Row(md, "token, 1 account", cached.OneAccount);
        Row(md, "token, 100 accounts (random)", cached.HundredAccounts);
        Row(md, "token, 1 account, authenticated by a workload identity JWT instead of a key", cached.OneAccountJwt);
        md.AppendLine();
        md.AppendLine($"**Ratio to the separate ceiling** (the interleaved rounds below, summed): {separate.Ratio:P0} (target ≥ 90 %); " +
                      $"by CPU time per request, {separate.CpuRatio:P0} (steadier on a shared machine: it does not depend on how the cores were shared with the load generator). " +
                      $"**p99 at half the ceiling's rate** ({separate.HalfRate:N0}/s, hey, the median of {separate.Half.Count} rounds): broker {Scenarios.SeparateCeilingResult.Median(separate.Half.Select(r => r.Broker.P99Ms)):0.00} ms, " +
                      $"ceiling {Scenarios.SeparateCeilingResult.Median(separate.Half.Select(r => r.Ceiling.P99Ms)):0.00} ms: {separate.HalfRateP99Ratio:0.00}× (target ≤ 1.2×). " +
                      $"Ratio to the same process's bare endpoint, which crosses the same pipeline and so shows the token work alone: " +
                      $"1 account {Ratio(cached.OneAccount, cached.Ceiling):P0}, 100 accounts {Ratio(cached.HundredAccounts, cached.Ceiling):P0}; " +
                      $"JWT-authenticated to key-authenticated: {Ratio(cached.OneAccountJwt, cached.OneAccount):P0} (target: within 10 %).");
        md.AppendLine();
        md.AppendLine("Against a separate minimal ASP.NET Core app on the same machine (`bench/Broker.Bench.Ceiling`: the key's SHA-256 checked in");
        md.AppendLine("constant time, the same JSON answer, no broker pipeline), both warmed past tiered compilation, then measured interleaved:");
        md.AppendLine("full speed with `wrk -t1 -c32`, then at half the ceiling's rate with `hey` (CPU: each process's user and system time per request):");
        md.AppendLine();
        md.AppendLine("| round | load | broker requests/s | broker p99 ms | broker CPU µs per request | ceiling requests/s | ceiling p99 ms | ceiling CPU µs per request | ratio (requests) | ratio (CPU) |");
        md.AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        void CeilingRows(List<Scenarios.CeilingRound> rounds, string load)
        {
            for (var i = 0; i < rounds.Count; i++)
            {
                var r = rounds[i];
                md.AppendLine($"| {i + 1} | {load} | {r.Broker.RequestsPerSecond:N0} | {r.Broker.P99Ms:0.00} | {r.BrokerCpuUs:0.0} | {r.Ceiling.RequestsPerSecond:N0} | {r.Ceiling.P99Ms:0.00} | {r.CeilingCpuUs:0.0} | {r.Ratio:P0} | {r.CpuRatio:P0} |");
            }
        }
        CeilingRows(separate.Full, "full speed");
        CeilingRows(separate.Half, $"{separate.HalfRate:N0}/s");
        md.AppendLine();
        md.AppendLine("Where the machine's CPU went during the two full-speed runs (share of all cores):");
        md.AppendLine();
        md.AppendLine("| load | broker | PostgreSQL | load generator, simulator, kernel | idle |");
        md.AppendLine("|---|---:|---:|---:|---:|");
        CpuRow(md, "bare endpoint", cached.CeilingCpu);
        CpuRow(md, "token, 1 account (every fetch audited, in rollups)", cached.OneAccountCpu);
        md.AppendLine();
        var audit = cached.OneAccountAudit;
        md.AppendLine($"What the 1-account run left in `audit_events`: {audit.Events:N0} served tokens (the sum of the rollups' counts) in {audit.Rows:N0} new rows (a row the warm-up began in the same period is added to, not repeated), " +
                      $"and the table and its indexes grew by {audit.Bytes:N0} bytes: **{audit.RowsPerMillion:N0} rows per 1,000,000 cached fetches, " +
                      $"{audit.BytesPerMillion:N0} bytes measured ({audit.EstimatedBytesPerMillion:N0} bytes at the table's average of {audit.BytesPerRow:N0} bytes per row)** " +
                      "(target ≤ 1 MB; with one row per fetch it was ~509 bytes a fetch, ~509 MB per million). A table grows by whole 8 KiB pages, so the measured growth of a short run is coarse; the estimate is an upper bound while the table is small (its indexes' first pages count in the average).");
        md.AppendLine();

        md.AppendLine("## 2. Refresh storm (callers released at the moment the token expires; simulator latency 50 ms)");
        md.AppendLine();
        md.AppendLine("| instances | callers | expiries | upstream refreshes per expiry (max) | logins | refresh-token reuse | errors | p50 ms | p99 ms |");
        md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var s in storms)
            md.AppendLine($"| {s.Hosts} | {s.Callers} | {s.Expiries} | {s.MaxRefreshesPerExpiry} | {s.Logins} | {s.Reuses} | {s.Errors} | {s.P50Ms:0.0} | {s.P99Ms:0.0} |");
        md.AppendLine();
        md.AppendLine("Target: exactly 1 refresh per expiry, 0 errors, p99 ≤ simulator latency + 50 ms (100 ms). The one login per row is the account's first fetch. " +
                      "Each row first runs unmeasured expiries (with three instances: one with every caller on each instance, then one across all), so every instance " +
                      "has been through the refresh and the wait once and the steady state is timed, not the JIT of first use; errors of those expiries still count. " +
                      "The first storm of freshly started instances is measured on its own:");
        md.AppendLine();
        md.AppendLine("| instances | callers | rounds (fresh processes each) | upstream refreshes per expiry (max) | errors | p50 ms | p99 ms | max ms |");
        md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        md.AppendLine($"| {cold.Hosts} | {cold.Callers} | {cold.Rounds} | {cold.MaxRefreshesPerRound} | {cold.Errors} | {cold.P50Ms:0.0} | {cold.P99Ms:0.0} | {cold.MaxMs:0.0} |");
        md.AppendLine();

        md.AppendLine($"## 3. Many accounts ({many.Accounts:N0} accounts with valid stored tokens, cold broker, random fetches)");
        md.AppendLine();
        md.AppendLine("| requests/s | p50 ms | p99 ms | requests | database transactions | transactions per request |");
        md.AppendLine("|---:|---:|---:|---:|---:|---:|");
        md.AppendLine($"| {many.Load.RequestsPerSecond:N0} | {many.Load.P50Ms:0.00} | {many.Load.P99Ms:0.00} | {many.Load.Requests:N0} | {many.Transactions:N0} | {many.TransactionsPerRequest:0.0000} |");
        md.AppendLine();
        md.AppendLine($"Each account costs one read on its first fetch (then it is served from memory), plus the audit writer's batched COPY. " +
                      $"Seeding (one account through the admin API, the others SQL copies of it) took {many.SeedTime.TotalSeconds:0.0} s.");
        md.AppendLine();

        md.AppendLine("## 4. Versus no broker");
        md.AppendLine();
        md.AppendLine($"{versus.Services} services using one upstream account over {versus.Expiries} token lifetimes (3 s each):");
        md.AppendLine();
        md.AppendLine("| | upstream calls |");
        md.AppendLine("|---|---:|");
        md.AppendLine($"| each service logs in and refreshes for itself (best case: one chain each) | {versus.WithoutBroker} |");
        md.AppendLine($"| through the broker | {versus.WithBroker} |");
        md.AppendLine();
        md.AppendLine("Without the broker, a single-use refresh token also cannot be shared: 50 services need 50 chains (50 upstream sessions).");
        md.AppendLine();
        md.Append(ScaleSection(scale));
        return md.ToString();
    }

    public static string ScaleSection(Scale.Result scale)
    {
        var md = new StringBuilder();
        md.AppendLine("## 5. Scale (accounts with valid stored tokens; a fresh broker per point)");
        md.AppendLine();
        md.AppendLine("Each point's accounts are SQL copies of one made through the admin API (its stored tokens too), added to the previous point's; " +
                      "the broker is started on them, measured idle, then every account is fetched once (cold: a read of its stored token) by a C# client " +
                      $"with 32 concurrent requests and the broker measured again (warm: every token in memory), then wrk fetches random accounts for {scale.CachedSeconds} s " +
                      $"(cached; `Broker__Tokens__MemoryCacheMaxAge={Scale.MemoryCacheMaxAge}` instead of 30 s, which 100,000 first fetches outlast: past it an entry is read again). Memory: RSS from /proc, and the managed heap retained after a full blocking collection (`dotnet-gcdump`); per account = (warm − idle) / accounts; " +
                      "the broker runs with the heap limit of a 512 MiB container (`DOTNET_GCHeapHardLimit` 384 MiB, what the runtime sets itself there). " +
                      $"The whole scenario took {scale.Elapsed.TotalSeconds:0} s.");
        md.AppendLine();
        md.AppendLine("| accounts | in the database (with earlier scenarios') | seeding s | " + (scale.Starts > 1 ? $"start-up s (to /health/ready, the fastest of {scale.Starts})" : "start-up s (to /health/ready)") + " | RSS idle MB | RSS warm MB | RSS per account | heap idle MB | heap warm MB | heap per account |");
        md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var p in scale.Points)
            md.AppendLine($"| {p.Accounts:N0} | {p.InDatabase:N0} | {p.Seeding.TotalSeconds:0.0} | {p.StartUp.TotalSeconds:0.00} | {Mb(p.Idle.RssBytes)} | {Mb(p.Warm.RssBytes)} | {p.RssPerAccount:N0} B | " +
                          $"{Mb(p.Idle.HeapBytes)} | {Mb(p.Warm.HeapBytes)} | {p.HeapPerAccount:N0} B |");
        md.AppendLine();
        md.AppendLine("RSS grows with what the server GC lets the warm-up allocate before it collects, not only with what it keeps: the heap column is what a held token costs.");
        md.AppendLine();
        md.AppendLine("| accounts | first fetches/s | first p50 ms | first p99 ms | first errors | transactions per first fetch | cached requests/s | cached p50 ms | cached p99 ms | cached errors | transactions per cached fetch | upstream logins and refreshes |");
        md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var p in scale.Points)
            md.AppendLine($"| {p.Accounts:N0} | {p.First.PerSecond:N0} | {p.First.P50Ms:0.00} | {p.First.P99Ms:0.00} | {p.First.Errors} | {p.First.TransactionsPerFetch:0.000} | " +
                          $"{p.Cached.RequestsPerSecond:N0} | {p.Cached.P50Ms:0.00} | {p.Cached.P99Ms:0.00} | {p.Cached.Errors} | {p.CachedTransactionsPerFetch:0.0000} | {p.UpstreamCalls} |");
        md.AppendLine();
        md.AppendLine("A first fetch is one read; PostgreSQL's transaction counter also counts Npgsql's `DISCARD ALL` on a reused pooled connection, so it shows as about 2. " +
                      (scale.Points.All(p => p.UpstreamCalls == 0) ? "Nothing went upstream: every copied token was valid." : "Calls went upstream: some copied tokens were not served (the last column)."));
        md.AppendLine();
        md.AppendLine("What the cached run left in `audit_events`: one row per (client, identity, account, token, address, hit/miss) per rollup period " +
                      "(`Broker:Audit:RollupPeriod`, a minute by default), so the rows follow the distinct accounts fetched, about min(accounts, fetches), " +
                      "once per period the run touched; an account an earlier point fetched in the same period has its row already, and the run adds to it:");
        md.AppendLine();
        md.AppendLine("| accounts | cached fetches (counted in the rows) | distinct accounts expected, N (1 − e^(−fetches/N)) | rows written or added to | their distinct accounts | periods | new rows | new rows per 1,000,000 fetches | bytes (table and indexes) | written within s of the run's end |");
        md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var p in scale.Points)
            md.AppendLine($"| {p.Accounts:N0} | {p.Audit.Storage.Events:N0} | {p.ExpectedDistinct:N0} | {p.Audit.TouchedRows:N0} | {p.Audit.DistinctAccounts:N0} | {p.Audit.Periods} | " +
                          $"{p.Audit.Storage.Rows:N0} | {p.Audit.Storage.RowsPerMillion:N0} | {p.Audit.Storage.Bytes:N0} | {p.Audit.WrittenAfter.TotalSeconds:0} |");
        md.AppendLine();
        if (scale.Clients is { } c)
        {
            md.AppendLine($"Keys: {c.Clients:N0} consumer clients, each with a grant on one account, inserted by SQL beside the {c.Accounts:N0} accounts, against the same accounts without them (idle, after start; per key = the difference / {c.Clients:N0}):");
            md.AppendLine();
            md.AppendLine("| clients | start-up s | RSS MB | heap MB | RSS per key | heap per key |");
            md.AppendLine("|---:|---:|---:|---:|---:|---:|");
            md.AppendLine($"| the scenario's consumer only | {c.BaselineStartUp.TotalSeconds:0.00} | {Mb(c.Baseline.RssBytes)} | {Mb(c.Baseline.HeapBytes)} | | |");
            md.AppendLine($"| + {c.Clients:N0} | {c.StartUp.TotalSeconds:0.00} | {Mb(c.Idle.RssBytes)} | {Mb(c.Idle.HeapBytes)} | {c.RssPerKey:N0} B | {c.HeapPerKey:N0} B |");
            md.AppendLine();
        }
        return md.ToString();
    }

    private static string Mb(long bytes) => (bytes / 1048576.0).ToString("0.0");

    private static void Row(StringBuilder md, string name, LoadTools.LoadResult r) =>
        md.AppendLine($"| {name} | {r.RequestsPerSecond:N0} | {r.P50Ms:0.00} | {r.P99Ms:0.00} | {r.Errors} |");

    private static double Ratio(LoadTools.LoadResult a, LoadTools.LoadResult b) => b.RequestsPerSecond == 0 ? 0 : a.RequestsPerSecond / b.RequestsPerSecond;

    private static string Commit()
    {
        try
        {
            using var git = Process.Start(new ProcessStartInfo("git", "rev-parse --short HEAD") { RedirectStandardOutput = true })!;
            return git.StandardOutput.ReadToEnd().Trim();
        }
        catch
        {
            return "unknown";
        }
    }

    private static string Machine()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim()
            : null;
        var memory = File.Exists("/proc/meminfo") ? File.ReadLines("/proc/meminfo").First().Split(':')[1].Trim() : "?";
        return $"{Environment.ProcessorCount} cores ({cpu ?? "unknown CPU"}), {memory} memory, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}";
    }

    private static void CpuRow(StringBuilder md, string label, CpuShare cpu) =>
        md.AppendLine($"| {label} | {cpu.Broker:P0} | {cpu.Postgres:P0} | {cpu.Rest:P0} | {cpu.Idle:P0} |");
}
