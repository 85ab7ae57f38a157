using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Broker.Infrastructure.Persistence;

/// <summary>
/// Kept by hand rather than EF Core migrations: the schema is plain SQL files a reviewer reads as they will run
/// (the audit table's append-only triggers, partial indexes; no generated diff), applied under an advisory lock and pinned by checksum.
/// Applies the plain SQL files of <c>migrations/</c> (embedded in this assembly) in name order, each in its own
/// transaction, under a transaction-scoped PostgreSQL advisory lock so that instances starting together do not race
/// (also through a transaction pooler). Each applied
/// file is recorded with its SHA-256; an applied file that has since changed stops the start-up.
/// </summary>
public sealed partial class MigrationRunner(NpgsqlDataSource dataSource, ILogger<MigrationRunner> logger)
{
    // Any constant unique to this application; pg_advisory_xact_lock takes a bigint.
    private const long AdvisoryLockKey = 0x42726F6B6572; // "Broker"

    public static IReadOnlyList<Migration> Embedded { get; } = LoadEmbedded();

    /// <summary>
    /// One transaction per migration, each taking the advisory lock for itself (<c>pg_advisory_xact_lock</c>, released
    /// with the transaction) and reading what is applied under it. A session lock (<c>pg_advisory_lock</c>) would not
    /// work through a transaction pooler such as PgBouncer: between two transactions the pooler may hand the session's
    /// server connection to someone else, lock and all, and run the next statement on another.
    /// </summary>
    public async Task ApplyAsync(CancellationToken ct = default)
    {
        while (await ApplyNextAsync(ct))
        {
        }
    }

    /// <summary>Applies the first migration not yet applied, if any, and says whether it did.</summary>
    private async Task<bool> ApplyNextAsync(CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await Execute(connection, tx, $"SELECT pg_advisory_xact_lock({AdvisoryLockKey})", ct);
        await Execute(connection, tx, """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    varchar(200) PRIMARY KEY,
                checksum   varchar(64)  NOT NULL,
                applied_at timestamptz  NOT NULL DEFAULT now())
            """, ct);

        var applied = new Dictionary<string, string>();
        await using (var read = new NpgsqlCommand("SELECT version, checksum FROM schema_migrations", connection, tx))
        await using (var reader = await read.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) applied[reader.GetString(0)] = reader.GetString(1);

        foreach (var migration in Embedded)
        {
            if (applied.TryGetValue(migration.Version, out var checksum))
            {
                if (checksum != migration.Checksum)
                    throw new InvalidOperationException(
                        $"Migration {migration.Version} was changed after it was applied (checksum {checksum} in the database, {migration.Checksum} now). Add a new migration instead.");
                continue;
            }

            await Execute(connection, tx, migration.Sql, ct);
            await using (var record = new NpgsqlCommand("INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)", connection, tx))
            {
                record.Parameters.Add(new() { Value = migration.Version });
                record.Parameters.Add(new() { Value = migration.Checksum });
                await record.ExecuteNonQueryAsync(ct);
            }
            await tx.CommitAsync(ct);
            LogApplied(migration.Version);
            return true;
        }
        await tx.CommitAsync(ct);
        return false;
    }

    /// <summary>Whether every embedded migration is recorded as applied (the readiness check).</summary>
    public async Task<bool> IsUpToDateAsync(CancellationToken ct = default)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT count(*) FROM schema_migrations WHERE version = ANY($1)");
        command.Parameters.Add(new() { Value = Embedded.Select(m => m.Version).ToArray() });
        try
        {
            return (long)(await command.ExecuteScalarAsync(ct))! == Embedded.Count;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return false;
        }
    }

    private static async Task Execute(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection, tx);
        await command.ExecuteNonQueryAsync(ct);
    }

    private static List<Migration> LoadEmbedded()
    {
        var assembly = typeof(MigrationRunner).Assembly;
        const string prefix = "migrations/";
        return assembly.GetManifestResourceNames()
            .Where(name => name.StartsWith(prefix, StringComparison.Ordinal) && name.EndsWith(".sql", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(name =>
            {
                using var stream = assembly.GetManifestResourceStream(name)!;
                using var reader = new StreamReader(stream, Encoding.UTF8);
                var sql = reader.ReadToEnd();
                var checksum = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql)));
                return new Migration(Path.GetFileNameWithoutExtension(name[prefix.Length..]), sql, checksum);
            })
            .ToList();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied migration {Version}")]
    private partial void LogApplied(string version);
}

public sealed record Migration(string Version, string Sql, string Checksum);
