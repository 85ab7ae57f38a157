using System.Net.Http.Json;
using System.Security.Claims;
using System.Text.Json.Nodes;
using Broker.IntegrationTests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace Broker.IntegrationTests.Identity;

/// <summary>
/// A real OIDC server (OpenIddict 7.8) issuing workload tokens: the client credentials grant, JWT access tokens for
/// the audience "broker", discovery and JWKS at their standard paths, ephemeral signing keys, plain http on loopback.
/// A service is a confidential client; its token's subject is its client id.
/// </summary>
public sealed class OpenIddictWorkloadIssuer : IAsyncDisposable
{
    public const string Audience = "broker";
    private readonly WebApplication _app;

    private OpenIddictWorkloadIssuer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    /// <summary>The iss of its tokens: its base address.</summary>
    public string Issuer => BaseAddress.ToString();

    public static async Task<OpenIddictWorkloadIssuer> StartAsync(string clientId, string clientSecret)
    {
        var builder = WebApplication.CreateBuilder(["--urls=http://127.0.0.1:0", "--environment=Production"]);
        builder.Logging.ClearProviders();
        var database = $"openiddict-workload-{Guid.NewGuid():N}";
        builder.Services.AddDbContext<DbContext>(options =>
        {
            options.UseInMemoryDatabase(database);
            options.UseOpenIddict();
        });
        builder.Services.AddOpenIddict()
            .AddCore(options => options.UseEntityFrameworkCore().UseDbContext<DbContext>())
            .AddServer(options =>
            {
                options.SetTokenEndpointUris("connect/token");
                options.AllowClientCredentialsFlow();
                options.AddEphemeralEncryptionKey().AddEphemeralSigningKey().DisableAccessTokenEncryption();
                options.UseAspNetCore().EnableTokenEndpointPassthrough().DisableTransportSecurityRequirement();
            });

        var app = builder.Build();
        app.MapPost("/connect/token", (HttpContext http) =>
        {
            var request = http.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("not an OpenIddict request");
            var identity = new ClaimsIdentity(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme, Claims.Name, Claims.Role);
            identity.SetClaim(Claims.Subject, request.ClientId).SetClaim("service", request.ClientId);
            identity.SetAudiences(Audience);
            identity.SetDestinations(static _ => [Destinations.AccessToken]);
            return Results.SignIn(new ClaimsPrincipal(identity), authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        });
        await app.StartAsync();

        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>().CreateAsync(new OpenIddictApplicationDescriptor
            {
                ClientId = clientId,
                ClientSecret = clientSecret,
                ClientType = ClientTypes.Confidential,
                Permissions = { Permissions.Endpoints.Token, Permissions.GrantTypes.ClientCredentials },
            });
        }
        var address = app.ListeningAddress();
        return new OpenIddictWorkloadIssuer(app, new Uri(address + "/"));
    }

    /// <summary>What a service does: the client credentials grant, answered with a JWT access token.</summary>
    public async Task<string> TokenAsync(string clientId, string clientSecret)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress };
        using var response = await http.PostAsync("connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials", ["client_id"] = clientId, ["client_secret"] = clientSecret,
        }));
        var body = await response.Content.ReadFromJsonAsync<JsonObject>();
        response.EnsureSuccessStatusCode();
        return body!["access_token"]!.GetValue<string>();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
