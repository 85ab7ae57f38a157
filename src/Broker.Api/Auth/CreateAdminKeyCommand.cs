using Broker.Api.Admin;
using Broker.Api.Hosting;
using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Broker.Infrastructure.Tokens;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Broker.Api.Auth;

/// <summary>
/// <c>Broker.Api create-admin-key --name &lt;name&gt;</c>: an admin client with a new key, printed once. The way in
/// without a key in configuration, for the first admin and for an operator who lost every admin key. It asks for
/// nothing more than the broker's own settings: whoever holds the connection string can change the clients table
/// anyway.
/// </summary>
public static class CreateAdminKeyCommand
{
    public const string Command = "create-admin-key";

    /// <summary>The audit trail's actor for what this command did: no client made the change.</summary>
    public const string Actor = "cli";

    private const int Succeeded = 0;
    private const int Failed = 1;
    private const int BadArguments = 2;

    private static readonly string Usage = $"""
        Usage: Broker.Api {Command} --name <client name>

        Creates an admin client with a new API key and prints the key once: the first admin, or the way back in
        after losing every admin key. The name (letters, digits, '.', '_', '-'; at most {Limits.Name}) must be free.

        Reads the broker's settings (ConnectionStrings__Broker, Broker__KeyEncryption__Key, ...) and applies
        pending migrations first, unless Broker__Database__MigrateOnStartup is false.
        Exit codes: 0 created; 1 not created (name taken, database unreachable); 2 bad arguments.
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args is ["--help"] or ["-h"] or ["-?"])
        {
            Console.WriteLine(Usage);
            return Succeeded;
        }
        if (ParseName(args) is not { } name) return BadArguments;

        try
        {
            using var host = CommandHost.Create([], builder => builder.Logging.ClearProviders()); // its answer is all it prints
            var services = host.Services;
            if (!await MigratedAsync(services, services.GetRequiredService<IConfiguration>())) return Failed;

            await using var db = await services.GetRequiredService<IDbContextFactory<BrokerDbContext>>().CreateDbContextAsync();
            if (await db.Clients.AsNoTracking().FirstOrDefaultAsync(c => c.Name == name) is { } existing) return await TakenAsync(db, existing);

            var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
            var key = ApiKeys.New();
            var id = Guid.CreateVersion7();
            db.Clients.Add(new Client
            {
                Id = id, Name = name, Role = ClientRole.Admin,
                KeyHash = ApiKeys.Hash(key), KeyPrefix = ApiKeys.DisplayPrefix(key), CreatedAt = now, UpdatedAt = now,
            });
            // Where the key came from; the detail of an admin change names what changed, never a value.
            var detail = $"client {name} (admin); by the {Command} command, user {Environment.UserName} on {Environment.MachineName}";
            db.AuditEvents.Add(AuditRow.Of(now, AuditActions.ClientCreated, "ok", Caller.Named(Actor), detail: detail));
            try
            {
                await db.SaveChangesAsync(); // one transaction: the client and its audit row, or neither
            }
            catch (DbUpdateException e) when (e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
            {
                return Error($"a client named '{name}' was created by someone else just now; choose another name.");
            }
            // The running instances hold every key in memory: the feed tells them of this one.
            await services.GetRequiredService<ChangeFeed>().PublishAsync([(ChangeKinds.Client, id.ToString())], CancellationToken.None);

            Console.WriteLine($"Created admin client '{name}'. Its API key follows; it will not be shown again:");
            Console.WriteLine(key);
            return Succeeded;
        }
        catch (Exception e)
        {
            return Error(Describe(e));
        }
    }

    /// <summary>The value of <c>--name</c>, or null after telling what is wrong.</summary>
    private static string? ParseName(string[] args)
    {
        string? name = null;
        for (var i = 0; i < args.Length; i++)
        {
            string? value;
            if (args[i] == "--name") value = i + 1 < args.Length ? args[++i] : null;
            else if (args[i].StartsWith("--name=", StringComparison.Ordinal)) value = args[i]["--name=".Length..];
            else return UsageError($"unknown argument '{args[i]}'.");
            if (name is not null) return UsageError("--name is given twice.");
            name = value ?? "";
        }
        if (name is null) return UsageError("--name is required.");

        var errors = new FieldErrors();
        errors.Name("--name", name);
        if (!errors.Any) return name;
        Error($"--name {errors.ToDictionary()["--name"][0]}");
        return null;
    }

    private static string? UsageError(string message)
    {
        Error(message);
        Console.Error.WriteLine();
        Console.Error.WriteLine(Usage);
        return null;
    }

    /// <summary>Migrated as the broker's start-up would, or not at all when a separate step owns migrations.</summary>
    private static async Task<bool> MigratedAsync(IServiceProvider services, IConfiguration configuration)
    {
        var migrations = services.GetRequiredService<MigrationRunner>();
        if (configuration.GetValue(StartupTasks.MigrateOnStartupSetting, defaultValue: true))
        {
            await migrations.ApplyAsync();
            return true;
        }
        if (await migrations.IsUpToDateAsync()) return true;
        Error($"the database is not migrated, and {StartupTasks.MigrateOnStartupSetting} is false: run `Broker.Api migrate` first.");
        return false;
    }

    private static async Task<int> TakenAsync(BrokerDbContext db, Client existing)
    {
        var what = existing switch
        {
            { RevokedAt: not null } => " (revoked)",
            { Role: ClientRole.Consumer } => " (a consumer)",
            { Role: ClientRole.Metrics } => " (a metrics key)",
            _ => "",
        };
        var prefix = existing.Name[..Math.Min(existing.Name.Length, Limits.Name - 4)] + "-";
        var similar = (await db.Clients.Where(c => c.Name.StartsWith(prefix)).Select(c => c.Name).ToListAsync()).ToHashSet();
        var free = Enumerable.Range(2, similar.Count + 1).Select(n => prefix + n).First(candidate => !similar.Contains(candidate));
        return Error($"a client named '{existing.Name}' exists already{what}; choose another name, such as '{free}'.");
    }

    private static string Describe(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is PostgresException postgres) return $"the database refused: {postgres.MessageText} ({postgres.SqlState}).";
            if (inner is NpgsqlException npgsql)
                return $"cannot reach the database: {npgsql.Message}{(npgsql.InnerException is { } cause ? $" ({cause.Message})" : "")}";
        }
        return e.Message;
    }

    private static int Error(string message)
    {
        Console.Error.WriteLine($"error: {message.ReplaceLineEndings(" ")}");
        return Failed;
    }
}
