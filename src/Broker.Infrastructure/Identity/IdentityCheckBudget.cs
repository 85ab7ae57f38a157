using System.Diagnostics;
using Microsoft.Extensions.Options;

namespace Broker.Infrastructure.Identity;

/// <summary>
/// What checking identities not seen before may cost one instance: the signature checks of new workload identity
/// tokens and the chain builds of new client certificates take from one bucket of
/// <see cref="WorkloadIdentityOptions.SignatureChecksPerSecond"/> (and its burst), so a flood of made-up tokens or
/// certificates, or both, costs at most that much CPU. One token bucket for the whole instance, as the generic cell
/// rate algorithm (see AddressRateLimit).
/// </summary>
public sealed class IdentityCheckBudget(IOptions<WorkloadIdentityOptions> options)
{
    private readonly long _interval = Math.Max(1, Stopwatch.Frequency / options.Value.SignatureChecksPerSecond);
    private long _fullAt;

    public bool TryTake()
    {
        var now = Stopwatch.GetTimestamp();
        var burst = _interval * Math.Max(0, options.Value.SignatureCheckBurst - 1);
        while (true)
        {
            var full = Volatile.Read(ref _fullAt);
            var from = Math.Max(full, now);
            if (from - now > burst) return false;
            if (Interlocked.CompareExchange(ref _fullAt, from + _interval, full) == full) return true;
        }
    }
}
