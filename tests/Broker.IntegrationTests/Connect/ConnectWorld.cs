using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Connect;

/// <summary>
/// A world whose broker knows its own public address (Broker:PublicBaseUrl, which must be set before it starts: so
/// it listens on a port chosen first), with an oauth2-authorization-code provider on the simulator.
/// </summary>
public static partial class ConnectWorld
{
    public const string ClientId = "broker-app";

    public static async Task<BrokerWorld> StartAsync()
    {
        var baseUrl = $"http://127.0.0.1:{FreePort()}";
        var world = await BrokerWorld.StartAsync(brokers: 0, new Dictionary<string, string?> { ["Broker:PublicBaseUrl"] = baseUrl });
        await world.AddBrokerAsync(builder => builder.WebHost.UseUrls(baseUrl));
        return world;
    }

    public static string CallbackUrl(BrokerWorld world) => new Uri(world.Broker.BaseAddress, "/oauth/callback").ToString();

    /// <summary>An authorization-code provider on the simulator, its client registered with the broker's callback.</summary>
    public static async Task<string> ProviderAsync(BrokerWorld world, string name = "sim-authcode", string? issuer = null, bool issuerRequired = false)
    {
        var secret = $"cs-{Guid.NewGuid():N}";
        world.Secrets.Add(secret);
        world.Simulator.AddClient(ClientId, secret);
        world.Simulator.AuthorizationCodes.RegisterRedirect(ClientId, CallbackUrl(world));
        await world.AdminAsync(HttpMethod.Post, "/admin/providers", new
        {
            name,
            dialect = "oauth2-authorization-code",
            token_url = new Uri(world.SimulatorHost.BaseAddress, "o/token/").ToString(),
            authorization_url = new Uri(world.SimulatorHost.BaseAddress, "oauth2/authorize").ToString(),
            client_id = ClientId,
            client_secret = secret,
            scope = "read",
            authorization_parameters = new Dictionary<string, string> { ["access_type"] = "offline" },
            issuer,
            issuer_required = issuerRequired,
        }, HttpStatusCode.Created);
        return name;
    }

    /// <summary>An account on the provider, and the simulator user a person consents as.</summary>
    public static async Task<(string Account, string User, string Password)> AccountAsync(BrokerWorld world, string provider, string name)
    {
        var user = $"person-{name}";
        var password = $"pw-{Guid.NewGuid():N}";
        world.Secrets.Add(password);
        world.Simulator.AddUser(user, password);
        await world.AdminAsync(HttpMethod.Post, "/admin/accounts", new { name, provider }, HttpStatusCode.Created);
        return (name, user, password);
    }

    public static async Task<string> BeginAsync(BrokerWorld world, string account)
    {
        var started = await world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{account}/connect");
        return started["authorization_url"]!.GetValue<string>();
    }

    /// <summary>
    /// What a browser does at the simulator's consent page, with HttpClient: returns where the simulator redirects it
    /// (the broker's callback, with code and state or an error).
    /// </summary>
    public static async Task<string> ConsentAsync(string authorizationUrl, string user, string password, bool approve)
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        var page = await http.GetStringAsync(authorizationUrl);
        var id = RequestField().Match(page).Groups[1].Value;
        id.ShouldNotBeEmpty(page);
        using var decided = await http.PostAsync(new Uri(new Uri(authorizationUrl), "/oauth2/authorize"), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["request"] = id, ["username"] = user, ["password"] = password, ["decision"] = approve ? "approve" : "deny",
        }));
        decided.StatusCode.ShouldBe(HttpStatusCode.Redirect, await decided.Content.ReadAsStringAsync());
        return decided.Headers.Location!.ToString();
    }

    /// <summary>The broker's callback as the browser would call it: no API key.</summary>
    public static async Task<(HttpStatusCode Status, string Page, HttpResponseMessage Response)> CallbackAsync(BrokerWorld world, string location)
    {
        var response = await world.Broker.SendAsync(new HttpRequestMessage(HttpMethod.Get, location));
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response);
    }

    public static string? Query(string url, string name) =>
        Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(new Uri(url).Query).TryGetValue(name, out var v) ? v.ToString() : null;

    /// <summary>Every audit row as JSON text, for the scans that must not find a code, verifier or token in them.</summary>
    public static Task<List<string>> AuditRowsAsync(BrokerWorld world) =>
        world.ColumnAsync<string>("SELECT row_to_json(a)::text FROM audit_events a");

    public static async Task<JsonObject> AccountJsonAsync(BrokerWorld world, string account) =>
        await world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account}");

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [GeneratedRegex("name=\"request\" value=\"([^\"]+)\"")]
    private static partial Regex RequestField();
}
