using Broker.Simulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Support;

/// <summary>The provider simulator on a real Kestrel port; tests drive it through <see cref="State"/>.</summary>
public sealed class SimulatorHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private SimulatorHost(WebApplication app, SimulatorState state, Uri baseAddress)
    {
        _app = app;
        State = state;
        BaseAddress = baseAddress;
    }

    public SimulatorState State { get; }

    public Uri BaseAddress { get; }

    public static async Task<SimulatorHost> StartAsync(TimeProvider clock)
    {
        var state = new SimulatorState(clock);
        var app = SimulatorApp.Build(["--urls=http://127.0.0.1:0"], state, clock);
        await app.StartAsync();
        var address = app.ListeningAddress();
        return new SimulatorHost(app, state, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
