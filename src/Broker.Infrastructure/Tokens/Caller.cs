namespace Broker.Infrastructure.Tokens;

/// <summary>Who asked, for the audit trail; <paramref name="Identity"/> is how they authenticated (see AuthenticatedClient.Identity).</summary>
public sealed record Caller(Guid? ClientId, string? ClientName, string? RequestId, string? RemoteIp, string? Identity = null)
{
    public static readonly Caller AheadOfTime = new(null, "broker:ahead-of-time", null, null);

    /// <summary>An actor outside any request (a start-up step, a command), by name.</summary>
    public static Caller Named(string name) => new(null, name, null, null);
}
