using Broker.Api;
using Broker.Api.Auth;
using Broker.Infrastructure.Persistence;

// `Broker.Api migrate` applies the migrations and exits, for deployments that migrate as a separate step.
if (args.FirstOrDefault() == "migrate")
{
    var app = BrokerApp.Create(args[1..]);
    await app.Services.GetRequiredService<MigrationRunner>().ApplyAsync();
    Console.WriteLine("Migrations applied.");
    return 0;
}

// `Broker.Api create-admin-key --name <name>` creates an admin client and prints its key once (docs/operations.md).
if (args.FirstOrDefault() == CreateAdminKeyCommand.Command) return await CreateAdminKeyCommand.RunAsync(args[1..]);

await BrokerApp.Create(args).RunAsync();
return 0;
