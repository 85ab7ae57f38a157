using Broker.Api.Auth;
using Broker.Infrastructure.Persistence;

namespace Broker.Api.Infrastructure;

/// <summary>Before the server listens: apply migrations (unless disabled) and create the bootstrap admin.</summary>
public sealed class StartupTasks(IServiceProvider services, IConfiguration configuration, MigrationRunner migrations) : IHostedService
{
    public const string MigrateOnStartupSetting = "Broker:Database:MigrateOnStartup";

    public async Task StartAsync(CancellationToken ct)
    {
        if (configuration.GetValue(MigrateOnStartupSetting, defaultValue: true)) await migrations.ApplyAsync(ct);
        await AdminBootstrap.EnsureAdminAsync(services, configuration, ct);
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
