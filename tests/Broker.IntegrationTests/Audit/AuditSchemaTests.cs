using Broker.Api.Audit;
using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Broker.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Broker.IntegrationTests.Audit;

/// <summary>The audit table itself: append-only, in step with the EF model, and indexed for the report queries.</summary>
public sealed class AuditSchemaTests(SharedWorld shared) : IClassFixture<SharedWorld>
{
    private readonly BrokerWorld _world = shared.World;

    [Theory]
    [InlineData("UPDATE audit_events SET outcome = 'forged'")]
    [InlineData("DELETE FROM audit_events")]
    [InlineData("TRUNCATE audit_events")]
    public async Task Changing_or_removing_audit_rows_is_refused(string sql)
    {
        var before = await _world.CountAsync("true");
        before.ShouldBeGreaterThan(0); // the bootstrap admin's creation at least

        var refused = await Should.ThrowAsync<PostgresException>(() => _world.ExecuteAsync(sql));

        refused.SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege);
        refused.MessageText.ShouldContain("append-only");
        (await _world.CountAsync("true")).ShouldBe(before);
        (await _world.CountAsync("outcome = 'forged'")).ShouldBe(0);
    }

    [Fact]
    public async Task Only_a_delete_in_a_transaction_that_declares_itself_the_retention_job_passes()
    {
        // A recent row: the trigger does not look at age, and an old one could be taken by the retention job's
        // start-up run before this test deletes it.
        await _world.ExecuteAsync("INSERT INTO audit_events (at, action, outcome) VALUES (now(), 'test.old', 'ok')");

        var updateRefused = await Should.ThrowAsync<PostgresException>(() => _world.ExecuteAsync(
            "BEGIN; SET LOCAL broker.audit_retention = 'on'; UPDATE audit_events SET outcome = 'forged'; COMMIT;"));
        updateRefused.SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege);

        (await _world.ExecuteAsync("BEGIN; SET LOCAL broker.audit_retention = 'on'; DELETE FROM audit_events WHERE action = 'test.old'; COMMIT;"))
            .ShouldBe(1);
        // SET LOCAL ends with its transaction: the same session is refused again afterwards.
        await Should.ThrowAsync<PostgresException>(() => _world.ExecuteAsync(
            "BEGIN; SET LOCAL broker.audit_retention = 'on'; COMMIT; DELETE FROM audit_events;"));
    }

    [Theory]
    [InlineData("UPDATE audit_events SET count = count + 1, outcome = 'forged' WHERE action = 'test.rollup'")]
    [InlineData("UPDATE audit_events SET count = count - 1 WHERE action = 'test.rollup'")]
    [InlineData("UPDATE audit_events SET at = at - interval '1 hour' WHERE action = 'test.rollup'")]
    [InlineData("UPDATE audit_events SET last_at = at - interval '1 hour' WHERE action = 'test.rollup'")]
    [InlineData("UPDATE audit_events SET count = count + 1 WHERE action = 'test.single'")]
    [InlineData("DELETE FROM audit_events WHERE action = 'test.rollup'")]
    public async Task Under_the_rollup_setting_only_a_rollup_rows_count_and_times_may_grow(string change)
    {
        await _world.ExecuteAsync("""
            INSERT INTO audit_events (at, action, outcome, count, first_at, period_start) VALUES (now(), 'test.rollup', 'hit', 5, now(), date_trunc('minute', now()));
            INSERT INTO audit_events (at, action, outcome) VALUES (now(), 'test.single', 'ok');
            """);
        try
        {
            var refused = await Should.ThrowAsync<PostgresException>(() => _world.ExecuteAsync(
                $"BEGIN; SET LOCAL broker.audit_rollup = 'on'; {change}; COMMIT;"));
            refused.SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege);

            // What the audit writer's merge does passes, and only then.
            (await _world.ExecuteAsync(
                "BEGIN; SET LOCAL broker.audit_rollup = 'on'; UPDATE audit_events SET count = count + 2, last_at = at + interval '1 second' WHERE action = 'test.rollup'; COMMIT;"))
                .ShouldBe(1);
            await Should.ThrowAsync<PostgresException>(() => _world.ExecuteAsync("UPDATE audit_events SET count = count + 2 WHERE action = 'test.rollup'"));
            (await _world.CountAsync("action = 'test.rollup' AND count = 7 AND outcome = 'hit'")).ShouldBe(1);
        }
        finally
        {
            await _world.ExecuteAsync("BEGIN; SET LOCAL broker.audit_retention = 'on'; DELETE FROM audit_events WHERE action IN ('test.rollup', 'test.single'); COMMIT;");
        }
    }

    [Fact]
    public async Task The_ef_model_of_audit_events_matches_the_migrated_table()
    {
        await using var db = await _world.Broker.Services.GetRequiredService<IDbContextFactory<BrokerDbContext>>().CreateDbContextAsync();
        var entity = db.Model.FindEntityType(typeof(AuditEvent))!;
        var model = entity.GetProperties()
            .Select(p => $"{p.GetColumnName()} {p.GetColumnType()} {(p.IsNullable ? "null" : "not null")}")
            .Order().ToList();

        var table = await _world.ColumnAsync<string>(
            """
            SELECT column_name || ' ' || CASE WHEN data_type = 'character varying' THEN 'character varying(' || character_maximum_length || ')'
                                              WHEN data_type = 'timestamp with time zone' THEN 'timestamp with time zone'
                                              ELSE data_type END
                   || ' ' || CASE is_nullable WHEN 'YES' THEN 'null' ELSE 'not null' END
            FROM information_schema.columns WHERE table_name = 'audit_events' ORDER BY 1
            """);

        model.ShouldBe(table.Order().ToList());
    }

    [Fact]
    public async Task Report_and_listing_queries_use_the_audit_indexes()
    {
        // A year of events, 96 a day, spread over a few clients, accounts and actions; then statistics. The test
        // cluster commits asynchronously, and VACUUM marks pages all-visible only once the commit is flushed.
        await _world.ExecuteAsync(
            """
            SET synchronous_commit = on;
            INSERT INTO audit_events (at, action, outcome, client_name, account_name, provider_name)
            SELECT now() - (i * interval '15 minutes'),
                   (ARRAY['token.served','token.served','token.served','token.obtained','token.refreshed','token.failed'])[1 + i % 6],
                   'ok', 'svc-' || (i % 7), 'account-' || (i % 50), 'provider-' || (i % 3)
            FROM generate_series(1, 35040) AS i
            """);
        await _world.ExecuteAsync("VACUUM ANALYZE audit_events");

        var now = DateTimeOffset.UtcNow;
        var week = new TimeRange(now.AddDays(-14), now.AddDays(-7));
        foreach (var groupBy in new[] { "client", "account", "provider", "day", "hour" })
        {
            await using var report = ReportsApi.UsageCommand(_world.Broker.Services.GetRequiredService<NpgsqlDataSource>(),
                new UsageQuery(week, [groupBy], new UsageFilters(null, null, null, null)));
            var plan = await PlanAsync(report);
            // An index, never a scan of the whole table. (ix_audit_events_at covers every grouping, so the planner
            // usually reads the index alone; whether it may depends on the visibility map, which concurrent
            // transactions elsewhere on the test cluster can hold back, so an index scan is accepted too.)
            plan.ShouldContain("ix_audit_events_", customMessage: $"{groupBy}:\n{plan}");
            plan.ShouldNotContain("Seq Scan on audit_events", customMessage: $"{groupBy}:\n{plan}");
        }

        // The listing: newest first, keyset on (at, id), with and without filters (the shape AuditApi.List sends).
        const string listing = "SELECT * FROM audit_events WHERE at >= $1 {0} AND (at, id) < ($2, $3) ORDER BY at DESC, id DESC LIMIT 101";
        (await ExplainAsync(string.Format(listing, ""))).ShouldContain("Index Scan Backward using ix_audit_events_at");
        (await ExplainAsync(string.Format(listing, "AND account_name = 'account-7'"))).ShouldContain("ix_audit_events_account_at");
        (await ExplainAsync(string.Format(listing, "AND client_name = 'svc-3'"))).ShouldContain("ix_audit_events_client_at");
        (await ExplainAsync(string.Format(listing, "AND action = 'token.failed'"))).ShouldContain("ix_audit_events_action_at");

        async Task<string> ExplainAsync(string sql)
        {
            await using var connection = new NpgsqlConnection(_world.ConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            command.Parameters.Add(new() { Value = now.AddDays(-300) });
            command.Parameters.Add(new() { Value = now.AddDays(-30) });
            command.Parameters.Add(new() { Value = long.MaxValue });
            return await PlanAsync(command);
        }
    }

    private static async Task<string> PlanAsync(NpgsqlCommand command)
    {
        command.CommandText = "EXPLAIN " + command.CommandText;
        var plan = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) plan.Add(reader.GetString(0));
        return string.Join("\n", plan);
    }
}
