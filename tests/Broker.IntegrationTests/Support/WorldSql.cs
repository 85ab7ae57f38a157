using Npgsql;

namespace Broker.IntegrationTests.Support;

/// <summary>Plain SQL against a world's database, for what a test reads or sets up beside the broker.</summary>
public static class WorldSql
{
    public static async Task<T> ScalarAsync<T>(this BrokerWorld world, string sql, params object[] parameters)
    {
        await using var connection = new NpgsqlConnection(world.ConnectionString);
        await connection.OpenAsync();
        await using var command = Command(sql, connection, parameters);
        var value = await command.ExecuteScalarAsync();
        return value is T typed ? typed : (T)Convert.ChangeType(value, typeof(T), System.Globalization.CultureInfo.InvariantCulture)!;
    }

    /// <summary>The first column of every row.</summary>
    public static async Task<List<T>> ColumnAsync<T>(this BrokerWorld world, string sql, params object[] parameters)
    {
        await using var connection = new NpgsqlConnection(world.ConnectionString);
        await connection.OpenAsync();
        await using var command = Command(sql, connection, parameters);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<T>();
        while (await reader.ReadAsync()) values.Add(reader.GetFieldValue<T>(0));
        return values;
    }

    /// <summary>Every row, its columns in order (SQL NULL as null).</summary>
    public static async Task<List<object?[]>> RowsAsync(this BrokerWorld world, string sql, params object[] parameters)
    {
        await using var connection = new NpgsqlConnection(world.ConnectionString);
        await connection.OpenAsync();
        await using var command = Command(sql, connection, parameters);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<object?[]>();
        while (await reader.ReadAsync())
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++) row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }

    public static async Task<int> ExecuteAsync(this BrokerWorld world, string sql, params object[] parameters)
    {
        await using var connection = new NpgsqlConnection(world.ConnectionString);
        await connection.OpenAsync();
        await using var command = Command(sql, connection, parameters);
        return await command.ExecuteNonQueryAsync();
    }

    private static NpgsqlCommand Command(string sql, NpgsqlConnection connection, object[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection);
        foreach (var p in parameters) command.Parameters.Add(new() { Value = p });
        return command;
    }
}
