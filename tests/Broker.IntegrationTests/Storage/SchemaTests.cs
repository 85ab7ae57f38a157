using Broker.Infrastructure.Persistence;
using Broker.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Storage;

/// <summary>The EF model and the schema that migrations/ builds must agree column by column.</summary>
public sealed class SchemaTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task The_EF_model_matches_the_migrated_schema()
    {
        var columns = await ReadSchemaAsync();
        await using var db = await _world.Broker.Services.GetRequiredService<IDbContextFactory<BrokerDbContext>>().CreateDbContextAsync();
        var mapped = new HashSet<(string Table, string Column)>();

        foreach (var entity in db.Model.GetEntityTypes())
        {
            var table = entity.GetTableName()!;
            var store = StoreObjectIdentifier.Table(table, entity.GetSchema());
            foreach (var property in entity.GetProperties())
            {
                var column = property.GetColumnName(store)!;
                mapped.Add((table, column));
                columns.TryGetValue((table, column), out var actual).ShouldBeTrue($"{table}.{column} is in the EF model but not in the schema");
                Normalize(property.GetColumnType()).ShouldBe(actual!.Type, $"{table}.{column} type");
                property.IsColumnNullable(store).ShouldBe(actual.Nullable, $"{table}.{column} nullability");
            }
        }

        var unmapped = columns.Keys.Where(c => c.Table is not ("schema_migrations" or "changes") && !mapped.Contains(c)).ToList();
        unmapped.ShouldBeEmpty("columns in the schema that the EF model does not know");
    }

    [Fact]
    public async Task Applying_the_migrations_again_changes_nothing()
    {
        var before = await ReadSchemaAsync();
        await _world.Broker.Services.GetRequiredService<MigrationRunner>().ApplyAsync();
        (await ReadSchemaAsync()).Count.ShouldBe(before.Count);
    }

    private async Task<Dictionary<(string Table, string Column), ColumnInfo>> ReadSchemaAsync()
    {
        var rows = await _world.RowsAsync("""
            SELECT c.table_name::text, c.column_name::text, format_type(a.atttypid, a.atttypmod), c.is_nullable = 'YES'
            FROM information_schema.columns c
            JOIN pg_attribute a ON a.attrelid = ('public.' || quote_ident(c.table_name))::regclass AND a.attname = c.column_name
            WHERE c.table_schema = 'public'
            """);
        return rows.ToDictionary(row => ((string)row[0]!, (string)row[1]!), row => new ColumnInfo(Normalize((string)row[2]!), (bool)row[3]!));
    }

    /// <summary>EF and PostgreSQL spell some types differently (varchar vs character varying).</summary>
    private static string Normalize(string type) => type
        .Replace("character varying", "varchar")
        .Replace("timestamp with time zone", "timestamptz");

    private sealed record ColumnInfo(string Type, bool Nullable);
}
