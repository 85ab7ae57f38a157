using System.Net;
using Broker.Api;
using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Persistence;
using Broker.IntegrationTests.Audit;
using Broker.IntegrationTests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Broker.IntegrationTests.Deployment;

/// <summary>
/// compose.yaml's database roles, for real: deploy/postgres-init's script creates the broker's role, the owner
/// migrates, and the broker, connected as a role that owns nothing, serves tokens, writes and prunes its trail, and
/// cannot switch the trail's append-only trigger off or change the schema.
/// </summary>
public sealed class DatabaseRoleTests
{
    [Fact]
    public async Task The_broker_runs_as_a_role_that_owns_nothing_and_the_audit_trigger_binds_it()
    {
        var server = await PostgresServer.SharedAsync();
        var ownerConnection = await server.CreateEmptyDatabaseAsync();
        var owner = new NpgsqlConnectionStringBuilder(ownerConnection);
        var role = $"broker_app_{Guid.NewGuid():N}"[..24];
        var password = $"pw-{Guid.NewGuid():N}";

        var script = await RepositoryFiles.RunAsync("bash", [RepositoryFiles.PathOf("deploy/postgres-init/10-broker-app-role.sh")], TimeSpan.FromSeconds(60),
            new Dictionary<string, string>
            {
                ["PGHOST"] = owner.Host!, ["PGPORT"] = owner.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["POSTGRES_USER"] = owner.Username!, ["POSTGRES_DB"] = owner.Database!,
                ["BROKER_APP_DB_USER"] = role, ["BROKER_APP_DB_PASSWORD"] = password,
            });
        script.ExitCode.ShouldBe(0, script.Output + script.Error);
        await MigrateAsync(ownerConnection);

        var appConnection = new NpgsqlConnectionStringBuilder(ownerConnection) { Username = role, Password = password }.ConnectionString;
        await using var world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
        {
            ["ConnectionStrings:Broker"] = appConnection,
            ["Broker:Database:MigrateOnStartup"] = "false",
        });
        var account = await world.AccountAsync(DialectNames.SlideRule);
        var key = await world.ConsumerAsync(account.Name);
        (await world.Broker.FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.OK);
        await world.DrainAsync(); // the trail is written (COPY) by the broker's role

        await using var app = new NpgsqlConnection(appConnection);
        await app.OpenAsync();
        (await ScalarAsync(app, "SELECT count(*) FROM audit_events WHERE action = 'token.served'")).ShouldBe(1L);
        (await ScalarAsync(app, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user")).ShouldBe(0L);

        (await FailsAsync(app, "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete")).ShouldBe(PostgresErrorCodes.InsufficientPrivilege);
        (await FailsAsync(app, "DROP TRIGGER audit_events_no_update_or_delete ON audit_events")).ShouldBe(PostgresErrorCodes.InsufficientPrivilege);
        (await FailsAsync(app, "CREATE TABLE intruder (id int)")).ShouldBe(PostgresErrorCodes.InsufficientPrivilege);
        (await FailsAsync(app, "UPDATE audit_events SET outcome = 'forged'")).ShouldNotBeNull(); // the trigger refuses
        (await FailsAsync(app, "DELETE FROM audit_events")).ShouldNotBeNull();

        // The retention job, running as the broker's role, still prunes old rows.
        await using (var ownerSession = new NpgsqlConnection(ownerConnection))
        {
            await ownerSession.OpenAsync();
            await using var insert = new NpgsqlCommand("INSERT INTO audit_events (at, action, outcome) VALUES (now() - interval '10 years', 'test.ancient', 'ok')", ownerSession);
            await insert.ExecuteNonQueryAsync();
        }
        (await world.Broker.Services.GetRequiredService<AuditRetention>().SweepAsync(default)).ShouldBeGreaterThanOrEqualTo(1);
        (await ScalarAsync(app, "SELECT count(*) FROM audit_events WHERE action = 'test.ancient'")).ShouldBe(0L);
    }

    [Fact]
    public void Compose_migrates_as_the_owner_and_runs_the_broker_as_the_role_the_init_script_creates()
    {
        var compose = RepositoryFiles.Read("compose.yaml");
        compose.ShouldContain("./deploy/postgres-init:/docker-entrypoint-initdb.d:ro");
        compose.ShouldContain("command: [\"migrate\"]");
        compose.ShouldContain("Username=broker;");   // the migrate service: the owner
        compose.ShouldContain("Username=broker_app;"); // the broker
        compose.ShouldContain("Broker__Database__MigrateOnStartup: \"false\"");
        compose.ShouldContain("condition: service_completed_successfully");
        // No admin key waits in the environment for whoever reads it: the first admin comes from create-admin-key.
        compose.ShouldNotContain("Broker__Bootstrap__AdminKey");
        compose.ShouldContain("create-admin-key");
    }

    [Theory]
    [InlineData("compose.yaml")]
    [InlineData("docs/operations.md")]
    [InlineData("README.md")]
    public void Every_instruction_makes_the_kek_file_readable_by_the_brokers_user_only(string file)
    {
        var text = RepositoryFiles.Read(file);
        var lines = text.Split('\n').Where(l => l.Contains("key-encryption.key", StringComparison.Ordinal) && l.Contains("chmod", StringComparison.Ordinal)).ToList();
        lines.ShouldNotBeEmpty($"{file} says nothing about the KEK file's permissions");
        lines.ShouldAllBe(l => l.Contains("chmod 0400") && l.Contains("1654"), $"{file}: the KEK file must be 0400 and owned by uid 1654");
        text.ShouldNotContain("chmod 644");
    }

    private static async Task MigrateAsync(string ownerConnection)
    {
        await using var app = BrokerApp.Create(["--environment=Production"], builder => builder.Configuration.AddInMemoryCollection(
            new Dictionary<string, string?>
            {
                ["ConnectionStrings:Broker"] = ownerConnection,
                ["Broker:KeyEncryption:Key"] = BrokerWorld.KeyEncryptionKey,
            }));
        await app.Services.GetRequiredService<MigrationRunner>().ApplyAsync();
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    /// <summary>The SQLSTATE the statement fails with (null if it succeeds).</summary>
    private static async Task<string?> FailsAsync(NpgsqlConnection connection, string sql)
    {
        try
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
            return null;
        }
        catch (PostgresException e)
        {
            return e.SqlState;
        }
    }
}
