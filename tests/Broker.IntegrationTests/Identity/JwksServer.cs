using Broker.IntegrationTests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Broker.IntegrationTests.Identity;

/// <summary>An issuer's JWKS endpoint on a loopback port, serving what the signer holds now, counting its requests.</summary>
public sealed class JwksServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private JwksServer(WebApplication app, string url)
    {
        _app = app;
        JwksUrl = url;
    }

    public string JwksUrl { get; }
    public int Requests => Volatile.Read(ref _requests);

    public static async Task<JwksServer> StartAsync(TokenSigner signer)
    {
        var builder = WebApplication.CreateSlimBuilder(["--urls=http://127.0.0.1:0"]);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        JwksServer? server = null;
        app.MapGet("/openid/v1/jwks", () =>
        {
            Interlocked.Increment(ref server!._requests);
            return Results.Text(signer.Jwks(), "application/json");
        });
        await app.StartAsync();
        var address = app.ListeningAddress();
        server = new JwksServer(app, address + "/openid/v1/jwks");
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
