using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Admin;

public sealed record AuditRow(string Action, string Outcome, string? Client, string? Account, string? Provider, string? Detail);

/// <summary>Reads the audit trail straight from the database, oldest first.</summary>
public static class AuditRows
{
    public static async Task<List<AuditRow>> ReadAsync(BrokerWorld world, string actionLike) =>
        (await world.RowsAsync(
            "SELECT action, outcome, client_name, account_name, provider_name, detail FROM audit_events WHERE action LIKE $1 ORDER BY id", actionLike))
        .Select(row => new AuditRow((string)row[0]!, (string)row[1]!, (string?)row[2], (string?)row[3], (string?)row[4], (string?)row[5]))
        .ToList();
}
