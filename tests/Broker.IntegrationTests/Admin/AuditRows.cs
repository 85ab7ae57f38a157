using Broker.IntegrationTests.Support;
using Npgsql;

namespace Broker.IntegrationTests.Admin;

public sealed record AuditRow(string Action, string Outcome, string? Client, string? Account, string? Provider, string? Detail);

/// <summary>Reads the audit trail straight from the database, oldest first.</summary>
public static class AuditRows
{
    public static async Task<List<AuditRow>> ReadAsync(BrokerWorld world, string actionLike)
    {
        // Unpooled: a pool per test database would keep its connection open after the test.
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(world.ConnectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT action, outcome, client_name, account_name, provider_name, detail FROM audit_events WHERE action LIKE @a ORDER BY id", connection);
        command.Parameters.AddWithValue("a", actionLike);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<AuditRow>();
        while (await reader.ReadAsync())
            rows.Add(new AuditRow(reader.GetString(0), reader.GetString(1), Nullable(reader, 2), Nullable(reader, 3), Nullable(reader, 4), Nullable(reader, 5)));
        return rows;
    }

    private static string? Nullable(NpgsqlDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
}
