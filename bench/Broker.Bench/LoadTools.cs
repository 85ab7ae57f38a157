using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Broker.Bench;

/// <summary>wrk for the most a server can do; hey for latency at a fixed rate. Both from Debian's packages.</summary>
public static partial class LoadTools
{
    public sealed record LoadResult(double RequestsPerSecond, double P50Ms, double P99Ms, long Requests, long Errors);

    private const string WrkScript = """
        local key = os.getenv("BENCH_KEY")
        local prefix = os.getenv("BENCH_PREFIX")
        local count = tonumber(os.getenv("BENCH_COUNT"))
        local fixed = os.getenv("BENCH_PATH")
        local headers = { ["Authorization"] = "Bearer " .. key }
        request = function()
          if fixed ~= nil and fixed ~= "" then return wrk.format("GET", fixed, headers) end
          return wrk.format("GET", "/v1/accounts/" .. prefix .. math.random(0, count - 1) .. "/token", headers)
        end
        done = function(summary, latency, requests)
          local e = summary.errors
          io.write(string.format("BENCH %f %f %f %d %d\n", summary.requests / (summary.duration / 1e6),
            latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests, e.connect + e.read + e.write + e.timeout + e.status))
        end
        """;

    /// <summary>Closed-loop maximum throughput: a fixed path, or random accounts prefix0..prefix{count-1}.</summary>
    public static async Task<LoadResult> WrkAsync(Uri baseUri, string key, string? path, string prefix = "", int count = 1,
        int connections = 50, int seconds = 10)
    {
        var script = Path.Combine(Path.GetTempPath(), "broker-bench.lua");
        await File.WriteAllTextAsync(script, WrkScript);
        var start = new ProcessStartInfo("wrk", ["-t1", $"-c{connections}", $"-d{seconds}s", "--latency", "-s", script, baseUri.ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["BENCH_KEY"] = key;
        start.Environment["BENCH_PREFIX"] = prefix;
        start.Environment["BENCH_COUNT"] = count.ToString(CultureInfo.InvariantCulture);
        start.Environment["BENCH_PATH"] = path ?? "";
        var output = await RunAsync(start);
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("BENCH ", StringComparison.Ordinal))
                   ?? throw new InvalidOperationException($"wrk printed no result:\n{output}");
        var f = line.Split(' ');
        return new LoadResult(Double(f[1]), Double(f[2]), Double(f[3]), long.Parse(f[4], CultureInfo.InvariantCulture), long.Parse(f[5], CultureInfo.InvariantCulture));
    }

    /// <summary>Open-loop load at a fixed total rate, for latency at a given throughput.</summary>
    public static async Task<LoadResult> HeyAsync(Uri url, string key, int totalRate, int connections = 20, int seconds = 10)
    {
        var perWorker = Math.Max(1, totalRate / connections);
        var start = new ProcessStartInfo("hey", ["-z", $"{seconds}s", "-c", $"{connections}", "-q", $"{perWorker}",
            "-H", $"Authorization: Bearer {key}", url.ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var output = await RunAsync(start);
        var rps = Double(RequestsPerSecond().Match(output).Groups[1].Value);
        var p50 = Double(Percentile().Matches(output).First(m => m.Groups[1].Value == "50").Groups[2].Value) * 1000;
        var p99 = Double(Percentile().Matches(output).First(m => m.Groups[1].Value == "99").Groups[2].Value) * 1000;
        var ok = StatusLine().Match(output) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        var total = (long)(rps * seconds);
        return new LoadResult(rps, p50, p99, total, Math.Max(0, total - ok));
    }

    private static async Task<string> RunAsync(ProcessStartInfo start)
    {
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return await stdout + await stderr;
    }

    private static double Double(string text) => double.Parse(text, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    private static partial Regex RequestsPerSecond();

    [GeneratedRegex(@"\s(\d+)%+ in ([0-9.]+) secs")]
    private static partial Regex Percentile();

    [GeneratedRegex(@"\[200\]\s+(\d+) responses")]
    private static partial Regex StatusLine();
}
