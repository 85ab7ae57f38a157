using System.Globalization;

namespace Broker.Bench;

/// <summary>
/// Where the machine's CPU went during a load (Linux /proc): the broker processes, PostgreSQL's, and the rest
/// (the load generator, the simulator, the kernel). On one small machine they all compete for the same cores.
/// </summary>
public sealed record CpuShare(double Broker, double Postgres, double Rest, double Idle)
{
    public sealed record Snapshot(long Broker, long Postgres, long Busy, long Total);

    /// <summary>USER_HZ: Linux reports /proc times in hundredths of a second on every architecture .NET runs on.</summary>
    public const double TicksPerSecond = 100;

    public static Snapshot Take(IEnumerable<int> brokerPids)
    {
        long broker = brokerPids.Sum(ProcessTicks), postgres = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
            if (int.TryParse(Path.GetFileName(dir), out var pid) && Comm(pid) == "postgres") postgres += ProcessTicks(pid);
        // /proc/stat "cpu  user nice system idle iowait irq softirq steal ..."
        var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)
            .Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        var total = cpu.Sum();
        return new Snapshot(broker, postgres, total - cpu[3] - cpu[4], total);
    }

    public static CpuShare Between(Snapshot before, Snapshot after)
    {
        double total = Math.Max(1, after.Total - before.Total);
        double broker = after.Broker - before.Broker, postgres = after.Postgres - before.Postgres, busy = after.Busy - before.Busy;
        return new CpuShare(broker / total, postgres / total, Math.Max(0, busy - broker - postgres) / total, 1 - busy / total);
    }

    private static string? Comm(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim(); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>utime + stime (fields 14 and 15 of /proc/pid/stat), in clock ticks; 0 for a process that is gone.</summary>
    public static long ProcessTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // the command name may contain spaces
            return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }
        catch (IOException) { return 0; }
    }
}
