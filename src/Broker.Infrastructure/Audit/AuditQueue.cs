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
    private readonly Channel<AuditEvent> _channel = Channel.CreateBounded<AuditEvent>(
        new BoundedChannelOptions(options.Value.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait, // with TryWrite: fail fast instead of waiting
            SingleReader = true,
        });

    private long _dropped;

    public long Dropped => Interlocked.Read(ref _dropped);

    public int Depth => _channel.Reader.Count;

    public void Enqueue(AuditEvent auditEvent)
    {
        if (!_channel.Writer.TryWrite(auditEvent)) Interlocked.Increment(ref _dropped);
    }

    internal ChannelReader<AuditEvent> Reader => _channel.Reader;

    internal long TakeDropped() => Interlocked.Exchange(ref _dropped, 0);

    /// <summary>Events lost after they left the queue (the database refused them), counted like an overflow.</summary>
    internal void CountDropped(long count) => Interlocked.Add(ref _dropped, count);

    /// <summary>No more events: the writer drains what is queued and stops (graceful shutdown).</summary>
    internal void Complete() => _channel.Writer.TryComplete();
}
