namespace Broker.Simulator;

// An explicit, internal Program: a top-level one would be a public global `Program` (ASP.NET Core 10 generates
// that), ambiguous in test projects that also reference Broker.Api and use WebApplicationFactory<Program>.
internal static class Program
{
    private const string SeedDemoFlag = "--seed-demo";

    public static async Task Main(string[] args)
    {
        var state = new SimulatorState();
        if (args.Contains(SeedDemoFlag))
        {
            state.AddUser("demo", "demo-password", "UofMDTest");
            state.AddClient("demo-client", "demo-secret");
        }

        // The flag is ours; ASP.NET Core's command-line configuration would take it for a key missing its value.
        var app = SimulatorApp.Build([.. args.Where(arg => arg != SeedDemoFlag)], state);
        await app.StartAsync();
        Console.WriteLine($"Broker simulator listening on {string.Join(", ", app.Urls)}");
        await app.WaitForShutdownAsync();
    }
}
