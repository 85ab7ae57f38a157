using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Broker.Infrastructure.Tokens;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Broker.Api.Auth;

/// <summary>
/// The first admin key comes from configuration (<c>Broker__Bootstrap__AdminKey</c>) and is taken only while no
/// admin exists yet, so removing the setting later, or changing it, grants nothing.
/// </summary>
public static partial class AdminBootstrap
{
    public const string AdminKeySetting = "Broker:Bootstrap:AdminKey";
    public const string ClientName = "bootstrap-admin";

    public static async Task EnsureAdminAsync(IServiceProvider services, IConfiguration configuration, CancellationToken ct)
    {
        var key = configuration[AdminKeySetting];
        if (string.IsNullOrWhiteSpace(key)) return;
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(AdminBootstrap));
        if (key.Length < 32)
            throw new InvalidOperationException($"{AdminKeySetting} must be at least 32 characters of random text.");

        await using var db = await services.GetRequiredService<IDbContextFactory<BrokerDbContext>>().CreateDbContextAsync(ct);
        if (await db.Clients.AnyAsync(c => c.Role == ClientRole.Admin && c.RevokedAt == null, ct)) return;

        var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
        db.Clients.Add(new Client
        {
            Id = Guid.CreateVersion7(), Name = ClientName, Role = ClientRole.Admin,
            KeyHash = ApiKeys.Hash(key), KeyPrefix = ApiKeys.DisplayPrefix(key), CreatedAt = now, UpdatedAt = now,
        });
        db.AuditEvents.Add(AuditRow.Of(now, AuditActions.ClientCreated, "ok", Caller.Named(ClientName), detail: "bootstrap admin from configuration"));
        try
        {
            await db.SaveChangesAsync(ct);
            LogCreated(logger, ClientName);
        }
        catch (DbUpdateException e) when (e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            // Another instance starting at the same moment created it.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Created admin client {Name} from the bootstrap key")]
    private static partial void LogCreated(ILogger logger, string name);
}
