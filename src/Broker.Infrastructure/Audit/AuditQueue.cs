using System.Threading.Channels;
using Broker.Domain;

namespace Broker.Infrastructure.Audit;

/// <summary>
/// The bounded queue between the hot path and <see cref="AuditWriter"/>. Enqueueing never blocks a request:
/// when the queue is full the event is dropped, counted (<see cref="Dropped"/>), logged by the writer and
/// recorded in the trail itself as an <c>audit.overflow</c> event, so a loss is never silent.
/// </summary>
public sealed class AuditQueue(Microsoft.Extensions.Options.IOptions<AuditOptions> options)
{
    // Unbounded underneath, bounded by the counter: a bounded channel takes a lock on every write, and every
    // token served writes here. The unbounded single-reader channel is lock-free.
    private readonly Channel<AuditEvent> _channel = Channel.CreateUnbounded<AuditEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly int _capacity = options.Value.QueueCapacity;
    private int _depth;
    private long _dropped;

    private long _droppedTotal;

    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Events dropped since start-up (<see cref="Dropped"/> is reset each time the writer reports them).</summary>
    public long DroppedTotal => Interlocked.Read(ref _droppedTotal);

    /// <summary>Events taken since start-up (not dropped): each is a row in the trail once written.</summary>
    public long Enqueued => Interlocked.Read(ref _enqueued);

    private long _enqueued;

    public int Depth => Volatile.Read(ref _depth);

    public void Enqueue(AuditEvent auditEvent)
    {
        if (Interlocked.Increment(ref _depth) > _capacity || !_channel.Writer.TryWrite(auditEvent))
        {
            Interlocked.Decrement(ref _depth);
            Interlocked.Increment(ref _dropped);
            Interlocked.Increment(ref _droppedTotal);
            return;
        }
        Interlocked.Increment(ref _enqueued);
    }

    internal bool TryDequeue(out AuditEvent auditEvent)
    {
        if (!_channel.Reader.TryRead(out auditEvent!)) return false;
        Interlocked.Decrement(ref _depth);
        return true;
    }

    /// <summary>Waits for an event; false once the queue is completed and empty.</summary>
    internal ValueTask<bool> WaitToDequeueAsync(CancellationToken ct) => _channel.Reader.WaitToReadAsync(ct);

    internal long TakeDropped() => Interlocked.Exchange(ref _dropped, 0);

    /// <summary>No more events: the writer drains what is queued and stops (graceful shutdown).</summary>
    internal void Complete() => _channel.Writer.TryComplete();
}
