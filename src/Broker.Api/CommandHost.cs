using Broker.Infrastructure;
using Microsoft.Extensions.Options;

namespace Broker.Api;

/// <summary>
/// The host the command-line commands (migrate, rewrap-key-ring, reencrypt-secrets, create-admin-key) run in: the
/// broker's settings and infrastructure, with every setting checked as the server's start-up checks it, but no web
/// server, no API and nothing started in the background.
/// </summary>
public static class CommandHost
{
    public static IHost Create(string[] args, Action<HostApplicationBuilder>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = args,
            // The environment the server would run in, so the same appsettings.{Environment}.json applies.
            EnvironmentName = Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") ?? Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT"),
        });
        configure?.Invoke(builder);
        builder.AddInfrastructure();
        var host = builder.Build();
        // What ValidateOnStart checks when a host starts; a command's host is never started.
        host.Services.GetService<IStartupValidator>()?.Validate();
        return host;
    }
}
