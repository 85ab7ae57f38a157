using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Support;

public static class ListeningAddresses
{
    /// <summary>Where a started app listens: the tests' servers bind port 0 on loopback and are reached where they say.</summary>
    public static string ListeningAddress(this WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
}
