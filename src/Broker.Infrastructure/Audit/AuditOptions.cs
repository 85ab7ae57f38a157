using System.ComponentModel.DataAnnotations;

namespace Broker.Infrastructure.Audit;

public sealed class AuditOptions
{
    public const string Section = "Broker:Audit";

    /// <summary>Events waiting for the batch writer. When full, further events are counted and logged as lost.</summary>
    [Range(100, 10_000_000)]
    public int QueueCapacity { get; set; } = 100_000;

    /// <summary>The most events written by one COPY.</summary>
    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 5_000;
}
