using Broker.Infrastructure.Persistence;
using Broker.IntegrationTests.Support;
using Npgsql;

namespace Broker.IntegrationTests.Audit;

/// <summary>Migration 0004 on a trail written before it: old rows stay readable and their counts move into the column.</summary>
public sealed class AuditRollupMigrationTests
{
    [Fact]
    public async Task Rows_written_before_the_rollups_read_as_one_event_and_refusal_minutes_keep_their_count()
    {
        var server = await PostgresServer.SharedAsync();
        var connectionString = await server.CreateEmptyDatabaseAsync();
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var before = MigrationRunner.Embedded.TakeWhile(m => string.CompareOrdinal(m.Version, "0004") < 0).ToList();
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            await new NpgsqlCommand("CREATE TABLE schema_migrations (version varchar(200) PRIMARY KEY, checksum varchar(64) NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())", connection).ExecuteNonQueryAsync();
            foreach (var migration in before)
            {
                await new NpgsqlCommand(migration.Sql, connection).ExecuteNonQueryAsync();
                await using var record = new NpgsqlCommand("INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)", connection);
                record.Parameters.Add(new() { Value = migration.Version });
                record.Parameters.Add(new() { Value = migration.Checksum });
                await record.ExecuteNonQueryAsync();
            }
            await new NpgsqlCommand("""
                INSERT INTO audit_events (at, action, outcome, client_name, detail) VALUES
                    (now(), 'token.served', 'hit', 'svc', null),
                    (now(), 'auth.failed', 'unauthorized', null, '20 request(s) from 14:05:01 to 14:05:59 UTC (unknown or revoked API key: 20)'),
                    (now(), 'request.rate_limited', 'too_many_requests', 'svc', 'not a count')
                """, connection).ExecuteNonQueryAsync();
        }

        await new MigrationRunner(dataSource, Microsoft.Extensions.Logging.Abstractions.NullLogger<MigrationRunner>.Instance).ApplyAsync();

        await using var read = dataSource.CreateCommand("SELECT action, count, first_at IS NULL FROM audit_events ORDER BY id");
        await using var reader = await read.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync()) rows.Add($"{reader.GetString(0)} {reader.GetInt32(1)} {reader.GetBoolean(2)}");
        rows.ShouldBe(["token.served 1 True", "auth.failed 20 True", "request.rate_limited 1 True"]);
        // Still append-only after the migration set its trigger aside for a moment.
        var refused = await Should.ThrowAsync<PostgresException>(async () =>
        {
            await using var update = dataSource.CreateCommand("UPDATE audit_events SET count = 2");
            await update.ExecuteNonQueryAsync();
        });
        refused.SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege);
    }
}
