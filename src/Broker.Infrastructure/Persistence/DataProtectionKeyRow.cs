namespace Broker.Infrastructure.Persistence;

/// <summary>One key of the Data Protection key ring; its XML is encrypted with the key-encryption key.</summary>
public sealed class DataProtectionKeyRow
{
    public int Id { get; set; }
    public string? FriendlyName { get; set; }
    public required string Xml { get; set; }
}
