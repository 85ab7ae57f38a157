using Broker.Api;
using Broker.Api.Auth;
using Broker.Api.Hosting;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Microsoft.Extensions.Options;
using Npgsql;

// A setting the broker cannot start with is one line naming it, its value and what it must be, and exit code 1:
// a stack trace would bury the one thing to change (docs/configuration.md).
try
{
    return await RunAsync(args);
}
catch (Exception e) when (StartupFailure.Describe(e, WebApplication.CreateBuilder(args).Configuration) is { Count: > 0 } lines)
{
    foreach (var line in lines) Console.Error.WriteLine(line);
    return 1;
}

static async Task<int> RunAsync(string[] args)
{
    // `Broker.Api migrate` applies the migrations and exits, for deployments that migrate as a separate step.
    if (args.FirstOrDefault() == "migrate")
    {
        using var host = CommandHost.Create(args[1..]);
        await host.Services.GetRequiredService<MigrationRunner>().ApplyAsync();
        Console.WriteLine("Migrations applied.");
        return 0;
    }

    // `Broker.Api rewrap-key-ring` re-encrypts the key ring with the current KEK after a rotation, so that the old
    // KEK can leave PreviousKeys. An operator's step, not a start-up task: it is run once the rollout is complete.
    if (args.FirstOrDefault() == "rewrap-key-ring")
    {
        using var host = CommandHost.Create(args[1..]);
        try
        {
            var result = await host.Services.GetRequiredService<KeyRingRewrap>().RunAsync();
            Console.WriteLine($"Key ring re-encrypted with key-encryption key {result.CurrentKek}: {result.Rewrapped} element(s) re-encrypted, " +
                              $"{result.AlreadyCurrent} already current, {result.Unencrypted} without encrypted content.");
            return 0;
        }
        catch (KeyRingRewrapException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
    }

    // `Broker.Api reencrypt-secrets` re-encrypts every stored secret under a new Data Protection key and revokes the
    // older keys: the recovery from a leaked KEK (docs/operations.md). Instances are restarted afterwards.
    if (args.FirstOrDefault() == "reencrypt-secrets")
    {
        using var host = CommandHost.Create(args[1..]);
        try
        {
            var result = await host.Services.GetRequiredService<SecretReencryption>().RunAsync();
            Console.WriteLine($"Secrets re-encrypted with the new Data Protection key {result.NewKeyId}: {result.Reencrypted} secret(s) re-encrypted, " +
                              $"{result.Revoked} older key(s) revoked. Restart every instance now, then run this command once more.");
            return 0;
        }
        catch (SecretReencryptionException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
    }

    // `Broker.Api create-admin-key --name <name>` creates an admin client and prints its key once (docs/operations.md).
    if (args.FirstOrDefault() == CreateAdminKeyCommand.Command) return await CreateAdminKeyCommand.RunAsync(args[1..]);

    var app = BrokerApp.Create(args);
    // Checked here rather than by the host's start, which would log the failure with its stack trace first.
    app.Services.GetService<IStartupValidator>()?.Validate();
    // Likewise a database the start-up migrations cannot reach. (Without them, the broker starts and reports not
    // ready until the database is there.)
    if (app.Configuration.GetValue(StartupTasks.MigrateOnStartupSetting, defaultValue: true))
        await using (await app.Services.GetRequiredService<NpgsqlDataSource>().OpenConnectionAsync()) { }
    await app.RunAsync();
    return 0;
}
