using System.Globalization;
using Broker.Bench;

// Usage: Broker.Bench <repo root> <connection string> <docs/benchmarks.md> [--quick]
//        [--storm-only | --cached-only | --ceiling-only | --many-only | --scale-only | --bursts-only | --ahead-only]
// bench/run.sh builds everything, starts a private PostgreSQL and calls this. The -only runs print and write nothing to the file;
// --scale-only, --bursts-only and --ahead-only print their report sections. BENCH_SCALE_MAX=n caps the scale scenario's points
// at n accounts; BENCH_BURSTS and BENCH_AHEAD choose the refresh scenarios' parameters (Refreshes.cs).
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var root = args[0];
var connectionString = args[1];
var output = args[2];
var quick = args.Contains("--quick");
var seconds = quick ? 3 : 10;

await using var stack = new Stack(root, connectionString);
await stack.StartSimulatorAsync();

if (args.Contains("--storm-only"))
{
    await stack.StartBrokerAsync(new());
    await Seeding.ProviderAsync(stack);
    await stack.StopBrokersAsync();
    foreach (var s in await Scenarios.RefreshStormAsync(stack, latencyMs: 50, expiries: 3))
        Console.WriteLine(s);
    Console.WriteLine(await Scenarios.ColdStormAsync(stack, hosts: 3, callers: 100, rounds: 3, latencyMs: 50));
    return 0;
}

if (args.Contains("--many-only"))
{
    await stack.StartBrokerAsync(new());
    await Seeding.ProviderAsync(stack);
    await stack.StopBrokersAsync();
    Console.WriteLine(await Scenarios.ManyAccountsAsync(stack, quick ? 1000 : 10_000, seconds));
    return 0;
}

if (args.Contains("--scale-only"))
{
    var only = await Scale.RunAsync(stack, quick, cachedSeconds: quick ? 3 : 5, onlyScenario: true);
    Console.WriteLine();
    Console.WriteLine(Report.ScaleSection(only));
    return 0;
}

if (args.Contains("--bursts-only"))
{
    Console.WriteLine(Refreshes.Markdown(await Refreshes.BurstsAsync(stack, Refreshes.BurstRuns(quick)), null));
    return 0;
}

if (args.Contains("--ahead-only"))
{
    Console.WriteLine(Refreshes.Markdown([], await Refreshes.AheadAtScaleAsync(stack, Refreshes.AheadRun(quick))));
    return 0;
}

if (args.Contains("--ceiling-only"))
{
    var only = await Scenarios.SeparateCeilingAsync(stack, quick);
    foreach (var round in only.Full.Concat(only.Half))
        Console.WriteLine($"broker {round.Broker.RequestsPerSecond:0}/s (p99 {round.Broker.P99Ms:0.00} ms, {round.BrokerCpuUs:0.0} µs CPU a request), " +
                          $"separate ceiling {round.Ceiling.RequestsPerSecond:0}/s (p99 {round.Ceiling.P99Ms:0.00} ms, {round.CeilingCpuUs:0.0} µs): {round.Ratio:P0}, by CPU {round.CpuRatio:P0}");
    Console.WriteLine($"ratio {only.Ratio:P0}, by CPU {only.CpuRatio:P0}; p99 at {only.HalfRate}/s: {only.HalfRateP99Ratio:0.00}× the ceiling's");
    return 0;
}

if (args.Contains("--cached-only"))
{
    var only = await Scenarios.CachedFetchAsync(stack, seconds);
    Console.WriteLine($"token {only.OneAccount.RequestsPerSecond:0}/s, bare endpoint {only.Ceiling.RequestsPerSecond:0}/s; " +
                      $"100 accounts {only.HundredAccounts.RequestsPerSecond:0}/s; workload identity JWT {only.OneAccountJwt.RequestsPerSecond:0}/s; audit {only.OneAccountAudit.Events:N0} served in {only.OneAccountAudit.Rows} rows, " +
                      $"{only.OneAccountAudit.BytesPerMillion:N0} bytes per 1M measured, {only.OneAccountAudit.EstimatedBytesPerMillion:N0} estimated; CPU during token run: PostgreSQL {only.OneAccountCpu.Postgres:P0}, broker {only.OneAccountCpu.Broker:P0}");
    return 0;
}

var clock = System.Diagnostics.Stopwatch.StartNew();
Console.WriteLine("1/7 cached fetch ...");
var cached = await Scenarios.CachedFetchAsync(stack, seconds);
Console.WriteLine($"[{clock.Elapsed.TotalSeconds:0} s] 1/7 the separate ceiling ...");
var separate = await Scenarios.SeparateCeilingAsync(stack, quick);
Console.WriteLine($"[{clock.Elapsed.TotalSeconds:0} s] 2/7 refresh storm ...");
var storms = await Scenarios.RefreshStormAsync(stack, latencyMs: 50, expiries: quick ? 1 : 3, quick);
var coldStorm = await Scenarios.ColdStormAsync(stack, hosts: 3, callers: 100, rounds: quick ? 1 : 3, latencyMs: 50);
Console.WriteLine($"[{clock.Elapsed.TotalSeconds:0} s] 3/7 many accounts ...");
var many = await Scenarios.ManyAccountsAsync(stack, quick ? 1000 : 10_000, seconds);
Console.WriteLine($"[{clock.Elapsed.TotalSeconds:0} s] 4/7 versus no broker ...");
var versus = await Scenarios.VersusNoBrokerAsync(stack, services: 50, expiries: quick ? 1 : 3);
Console.WriteLine($"[{clock.Elapsed.TotalSeconds:0} s] 5/7 scale ...");
var scale = await Scale.RunAsync(stack, quick, cachedSeconds: quick ? 3 : 5);
Console.WriteLine($"[{clock.Elapsed.TotalSeconds:0} s] 6/7 many refreshes at once ...");
var bursts = await Refreshes.BurstsAsync(stack, Refreshes.BurstRuns(quick));
// A lifetime of tokens at least: too long for the quick run (--ahead-only --quick runs a small one alone).
Console.WriteLine($"[{clock.Elapsed.TotalSeconds:0} s] " + (quick ? "7/7 the ahead-of-time loop at scale: not in the quick run" : "7/7 the ahead-of-time loop at scale ..."));
var ahead = quick ? null : await Refreshes.AheadAtScaleAsync(stack, Refreshes.AheadRun(quick));

var report = Report.Markdown(cached, separate, storms, coldStorm, many, versus, scale, quick) + Refreshes.Markdown(bursts, ahead);
Console.WriteLine();
Console.WriteLine(report);
// Other sections of the file (e.g. audit ingestion) are written by other tools: replace only ours.
const string Begin = "<!-- bench/run.sh: begin -->", End = "<!-- bench/run.sh: end -->";
var existing = File.Exists(output) ? await File.ReadAllTextAsync(output) : "";
var ours = $"{Begin}\n{report}{End}\n";
await File.WriteAllTextAsync(output, existing.Contains(Begin) && existing.Contains(End)
    ? existing[..existing.IndexOf(Begin)] + ours + existing[(existing.IndexOf(End) + End.Length)..].TrimStart('\n')
    : ours + (existing.Length > 0 ? "\n" + existing : ""));
Console.WriteLine($"Written to {output} after {clock.Elapsed.TotalSeconds:0} s");

var failed = storms.Any(s => s.MaxRefreshesPerExpiry != 1 || s.Errors != 0 || s.Reuses != 0) || coldStorm.MaxRefreshesPerRound != 1 || coldStorm.Errors != 0
             || bursts.Any(b => b.Errors != 0 || b.UpstreamRefreshes != b.Expiring) || ahead is { ServedExpired: > 0 };
return failed ? 1 : 0;
