using System.Globalization;
using Microsoft.Diagnostics.Tracing;

// Usage: Broker.Bench.GcPauses <trace.nettrace> [...]
// Summarises the garbage collections in traces taken with `dotnet-trace collect --profile gc-collect`
// (bench/profile.sh): how often each generation was collected, and how long the runtime was paused for it
// (from the suspension of managed threads to their restart), which is what a request caught by it waits.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
foreach (var file in args)
{
    using var source = new EventPipeEventSource(file);
    var pauses = new List<(int Generation, double Ms)>();
    double? suspendedAt = null;
    var generation = -1;
    double first = double.NaN, last = 0;
    source.Clr.GCStart += e => generation = e.Depth;
    source.Clr.GCSuspendEEStart += e => suspendedAt = e.TimeStampRelativeMSec;
    source.Clr.GCRestartEEStop += e =>
    {
        if (suspendedAt is { } at) pauses.Add((generation, e.TimeStampRelativeMSec - at));
        suspendedAt = null;
    };
    source.AllEvents += e =>
    {
        if (double.IsNaN(first)) first = e.TimeStampRelativeMSec;
        last = e.TimeStampRelativeMSec;
    };
    source.Process();

    var seconds = Math.Max(0.001, (last - first) / 1000);
    Console.WriteLine($"{Path.GetFileName(file)}: {seconds:0.0} s traced, {pauses.Count} collections");
    foreach (var group in pauses.GroupBy(p => p.Generation).OrderBy(g => g.Key))
    {
        var ms = group.Select(p => p.Ms).Order().ToList();
        Console.WriteLine($"  gen{group.Key}: {ms.Count / seconds:0.0}/s, pause median {ms[ms.Count / 2]:0.00} ms, max {ms[^1]:0.00} ms, " +
                          $"paused {ms.Sum() / (seconds * 10):0.00} % of the time");
    }
}
