using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging.Console;

namespace Broker.Simulator;

/// <summary>
/// The provider simulator: one small web app that speaks every upstream dialect the broker knows, with knobs for
/// lifetimes, latency and faults. Run it on its own (Program) or start it in-process from a test.
/// </summary>
public static class SimulatorApp
{
    /// <summary>
    /// Builds (does not start) the app. <paramref name="args"/> are ordinary ASP.NET Core arguments such as
    /// <c>--urls=http://127.0.0.1:0</c>; after <c>StartAsync</c>, <c>app.Urls</c> holds the bound address.
    /// </summary>
    /// <param name="state">Shared with the test, which reads and changes it directly. Default: a new one.</param>
    /// <param name="time">The clock for token times and expiry checks; when given it replaces the state's clock.</param>
    public static WebApplication Build(string[] args, SimulatorState? state = null, TimeProvider? time = null)
    {
        state ??= new SimulatorState();
        if (time is not null) state.Time = time;

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            // In-process the entry assembly is the test's; name ours so hosting doesn't look for the test's assets.
            ApplicationName = typeof(SimulatorApp).Assembly.GetName().Name,
        });

        // Quiet by default, even in-process where the test's appsettings.json may ask for Information.
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(options => options.SingleLine = true);
        builder.Logging.AddFilter<ConsoleLoggerProvider>(null, LogLevel.Warning);

        builder.Services.AddSingleton(state);
        builder.Services.AddSingleton<TokenFactory>();
        builder.Services.ConfigureHttpJsonOptions(options =>
        {
            options.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            options.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        });

        var app = builder.Build();

        var upstream = app.MapGroup("").AddEndpointFilter(UpstreamAnswer.CountRequest);
        upstream.MapSlideRule();
        upstream.MapSimpleJwt();
        upstream.MapKeycloak();
        upstream.MapOAuth2();
        app.MapAuthorizationCode();

        app.MapWhoAmI();
        app.MapControl();
        return app;
    }
}
