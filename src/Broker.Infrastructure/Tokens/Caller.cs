namespace Broker.Infrastructure.Tokens;

/// <summary>Who asked, for the audit trail.</summary>
public sealed record Caller(Guid? ClientId, string? ClientName, string? RequestId, string? RemoteIp)
{
    public static readonly Caller AheadOfTime = new(null, "broker:ahead-of-time", null, null);
}
