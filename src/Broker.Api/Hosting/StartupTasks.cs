using Broker.Api.Auth;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Tokens;

namespace Broker.Api.Hosting;

/// <summary>Before the server listens: apply migrations (unless disabled), create the bootstrap admin, warm the token path.</summary>
public sealed class StartupTasks(IServiceProvider services, IConfiguration configuration, MigrationRunner migrations,
    ILogger<StartupTasks> logger) : IHostedService
{
    public const string MigrateOnStartupSetting = "Broker:Database:MigrateOnStartup";

    public async Task StartAsync(CancellationToken ct)
    {
        if (configuration.GetValue(MigrateOnStartupSetting, defaultValue: true)) await migrations.ApplyAsync(ct);
        await AdminBootstrap.EnsureAdminAsync(services, configuration, ct);
        try
        {
            // Resolved here, not injected: Data Protection must not be built before the migrations ran.
            await services.GetRequiredService<TokenIssuer>().WarmUpAsync(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Only an optimisation: a broker whose database is not ready yet still starts, and reports not ready.
            logger.LogWarning(e, "Warming up the token path failed");
        }
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
