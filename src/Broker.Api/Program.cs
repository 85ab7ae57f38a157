using Broker.Api;
using Broker.Infrastructure.Persistence;

// `Broker.Api migrate` applies the migrations and exits, for deployments that migrate as a separate step.
if (args.FirstOrDefault() == "migrate")
{
    var app = BrokerApp.Create(args[1..]);
    await app.Services.GetRequiredService<MigrationRunner>().ApplyAsync();
    Console.WriteLine("Migrations applied.");
    return;
}

await BrokerApp.Create(args).RunAsync();
