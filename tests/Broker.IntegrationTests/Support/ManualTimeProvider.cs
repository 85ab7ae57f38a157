namespace Broker.IntegrationTests.Support;

/// <summary>
/// A clock the test moves by hand, whose timers stay on real time: FakeTimeProvider (the unit tests' clock) would
/// also hold every timer of the hosts (audit flushes, upstream timeouts, background loops) until a test moved it.
/// </summary>
public sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
