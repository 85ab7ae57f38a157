using System.Security.Claims;
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

namespace Broker.IntegrationTests.Connect;

/// <summary>
/// A real OAuth2 authorization server (OpenIddict 7.8) in the test process, on a Kestrel loopback port: authorization
/// code flow with PKCE required, rolling (rotated, single-use) refresh tokens, EF Core InMemory stores (so codes are
/// single use), ephemeral keys, plain http allowed on loopback. Its authorization endpoint approves one fixed user
/// at once (passthrough): no person is needed, the redirect carries the code.
/// </summary>
public sealed class OpenIddictServer : IAsyncDisposable
{
    public const string ClientId = "broker";
    public const string User = "oidc-user";

    private readonly WebApplication _app;

    private OpenIddictServer(WebApplication app, Uri baseAddress, string clientSecret)
    {
        _app = app;
        BaseAddress = baseAddress;
        ClientSecret = clientSecret;
    }

    public Uri BaseAddress { get; }
    public string ClientSecret { get; }
    public Uri AuthorizationUrl => new(BaseAddress, "connect/authorize");
    public Uri TokenUrl => new(BaseAddress, "connect/token");

    /// <summary>How many times the authorization endpoint approved, and how many token requests succeeded.</summary>
    public int Approvals;
    public int TokenAnswers;

    public static async Task<OpenIddictServer> StartAsync(string redirectUri)
    {
        var builder = WebApplication.CreateBuilder(["--urls=http://127.0.0.1:0", "--environment=Production"]);
        builder.Logging.ClearProviders();
        var database = $"openiddict-{Guid.NewGuid():N}";
        builder.Services.AddDbContext<DbContext>(options =>
        {
            options.UseInMemoryDatabase(database);
            options.UseOpenIddict();
        });
        builder.Services.AddOpenIddict()
            .AddCore(options => options.UseEntityFrameworkCore().UseDbContext<DbContext>())
            .AddServer(options =>
            {
                options.SetAuthorizationEndpointUris("connect/authorize").SetTokenEndpointUris("connect/token");
                options.AllowAuthorizationCodeFlow().AllowRefreshTokenFlow().RequireProofKeyForCodeExchange();
                options.AddEphemeralEncryptionKey().AddEphemeralSigningKey().DisableAccessTokenEncryption();
                options.UseAspNetCore().EnableAuthorizationEndpointPassthrough().DisableTransportSecurityRequirement();
            });

        var app = builder.Build();
        OpenIddictServer? server = null;
        // Before authentication: OpenIddict answers the token endpoint there, and nothing after it runs.
        app.Use(async (http, next) =>
        {
            await next(http);
            if (http.Request.Path == "/connect/token" && http.Response.StatusCode == 200) Interlocked.Increment(ref server!.TokenAnswers);
        });
        app.UseAuthentication();
        app.MapGet("/connect/authorize", (HttpContext http) =>
        {
            var request = http.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("not an OpenIddict request");
            var identity = new ClaimsIdentity(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme, Claims.Name, Claims.Role);
            identity.SetClaim(Claims.Subject, User).SetClaim(Claims.Name, User);
            identity.SetScopes(request.GetScopes());
            identity.SetDestinations(static _ => [Destinations.AccessToken]);
            Interlocked.Increment(ref server!.Approvals);
            return Results.SignIn(new ClaimsPrincipal(identity), authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        });
        await app.StartAsync();

        var secret = $"oidc-{Guid.NewGuid():N}";
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var applications = scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>();
            await applications.CreateAsync(new OpenIddictApplicationDescriptor
            {
                ClientId = ClientId,
                ClientSecret = secret,
                ClientType = ClientTypes.Confidential,
                RedirectUris = { new Uri(redirectUri) },
                Permissions =
                {
                    Permissions.Endpoints.Authorization, Permissions.Endpoints.Token,
                    Permissions.GrantTypes.AuthorizationCode, Permissions.GrantTypes.RefreshToken,
                    Permissions.ResponseTypes.Code, Permissions.Prefixes.Scope + Scopes.OfflineAccess,
                },
                Requirements = { Requirements.Features.ProofKeyForCodeExchange },
            });
        }

        var address = app.ListeningAddress();
        server = new OpenIddictServer(app, new Uri(address + "/"), secret);
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
