using System.Text;
using Npgsql;

namespace Broker.IntegrationTests.Support;

/// <summary>Every row of every table as text, for the scans that must not find a secret or key in the database.</summary>
public static class DatabaseDump
{
    public static async Task<string> AllTablesAsync(string connectionString)
    {
        // Unpooled: a pool per test database would keep its connection open after the test.
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'", connection))
        await using (var reader = await list.ExecuteReaderAsync())
            while (await reader.ReadAsync()) tables.Add(reader.GetString(0));

        var dump = new StringBuilder();
        foreach (var table in tables)
        {
            await using var select = new NpgsqlCommand($"SELECT t::text FROM \"{table}\" t", connection);
            await using var reader = await select.ExecuteReaderAsync();
            while (await reader.ReadAsync()) dump.AppendLine(reader.GetString(0));
        }
        return dump.ToString();
    }
}
