using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Support;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Admin;

/// <summary>
/// Every admin endpoint, as the running broker's routing knows them (so a new endpoint cannot be left out), against
/// every kind of key: none, unknown, a consumer's, a revoked admin's, and an admin's.
/// </summary>
public sealed class AdminAuthorizationTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;
    private int _n;

    // Every endpoint is sent unknown keys from one address: none is ever refused for the others.
    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
    {
        ["Broker:PublicBaseUrl"] = "https://broker.example", // only to build the connect endpoint's authorization URL
    });

    public async Task DisposeAsync() => await _world.DisposeAsync();

    /// <summary>"METHOD /route/{pattern}" of every endpoint under /admin.</summary>
    private IReadOnlyList<string> AdminEndpoints() =>
        _world.Broker.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText!.StartsWith("/admin", StringComparison.Ordinal))
            .SelectMany(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods.Select(m => $"{m} {e.RoutePattern.RawText!.TrimEnd('/')}"))
            .Order().ToList();

    [Theory]
    [InlineData("no key", HttpStatusCode.Unauthorized)]
    [InlineData("unknown key", HttpStatusCode.Unauthorized)]
    [InlineData("consumer key", HttpStatusCode.Forbidden)]
    [InlineData("revoked admin key", HttpStatusCode.Unauthorized)]
    public async Task Every_admin_endpoint_refuses_a_key_that_is_not_an_active_admins(string kind, HttpStatusCode expected)
    {
        var key = kind switch
        {
            "no key" => null,
            "unknown key" => "brk_" + new string('x', 43),
            "consumer key" => await _world.ConsumerAsync(),
            _ => await RevokedAdminKeyAsync(),
        };
        var endpoints = AdminEndpoints();
        endpoints.Count.ShouldBeGreaterThanOrEqualTo(20);

        var wrong = new List<string>();
        foreach (var endpoint in endpoints)
        {
            var (method, pattern) = Split(endpoint);
            var answer = await _world.SendAsync(new HttpMethod(method), pattern.Replace("{name}", "anything"), key, rawBody: "{}");
            if (answer.Status != expected || answer.ContentType != "application/problem+json") wrong.Add($"{endpoint}: {(int)answer.Status} {answer.Text}");
        }
        wrong.ShouldBeEmpty();
    }

    [Fact]
    public async Task Every_admin_endpoint_serves_an_admin_key()
    {
        var endpoints = AdminEndpoints();
        var cases = SuccessCases();
        endpoints.Where(e => !cases.ContainsKey(e) && !e.StartsWith("GET ", StringComparison.Ordinal)).ShouldBeEmpty(
            "an admin endpoint has no success case in this test: add one");

        var wrong = new List<string>();
        foreach (var endpoint in endpoints)
        {
            var (method, pattern) = Split(endpoint);
            var (path, body) = cases.TryGetValue(endpoint, out var arrange) ? await arrange() : (pattern, null);
            var answer = await _world.SendAsync(new HttpMethod(method), path, BrokerWorld.AdminKey, body);
            if ((int)answer.Status is < 200 or > 299) wrong.Add($"{endpoint} ({path}): {(int)answer.Status} {answer.Text}");
        }
        wrong.ShouldBeEmpty();
    }

    private Dictionary<string, Func<Task<(string Path, object? Body)>>> SuccessCases() => new()
    {
        ["POST /admin/providers"] = async () => ("/admin/providers", ProviderBody(Name("p"))),
        ["GET /admin/providers/{name}"] = async () => ($"/admin/providers/{await ProviderAsync()}", null),
        ["PUT /admin/providers/{name}"] = async () => ($"/admin/providers/{await ProviderAsync()}", ProviderBody(null)),
        ["DELETE /admin/providers/{name}"] = async () => ($"/admin/providers/{await ProviderAsync()}", null),
        ["POST /admin/providers/{name}/check"] = async () => ($"/admin/providers/{await ProviderAsync()}/check", null),
        ["POST /admin/accounts"] = async () => ("/admin/accounts",
            new { name = Name("a"), provider = await _world.ProviderAsync(DialectNames.SimpleJwt), username = "u", password = Secret() }),
        ["GET /admin/accounts/{name}"] = async () => ($"/admin/accounts/{await AccountAsync()}", null),
        ["PUT /admin/accounts/{name}"] = async () => ($"/admin/accounts/{await AccountAsync()}",
            new { provider = "sim-simplejwt", username = "someone" }),
        ["PATCH /admin/accounts/{name}"] = async () => ($"/admin/accounts/{await AccountAsync()}", new { scope = "read" }),
        ["DELETE /admin/accounts/{name}"] = async () => ($"/admin/accounts/{await AccountAsync()}", null),
        ["POST /admin/accounts/{name}/test"] = async () => ($"/admin/accounts/{await AccountAsync()}/test", null),
        ["POST /admin/accounts/{name}/revoke"] = async () => ($"/admin/accounts/{await AccountAsync()}/revoke", null),
        ["POST /admin/accounts/{name}/connect"] = async () => ($"/admin/accounts/{await AuthorizationCodeAccountAsync()}/connect", null),
        ["PUT /admin/accounts/{name}/refresh-token"] = async () => ($"/admin/accounts/{await AccountAsync()}/refresh-token",
            new { refresh_token = Secret() }),
        ["POST /admin/clients"] = async () => ("/admin/clients", new { name = Name("c") }),
        ["GET /admin/clients/{name}"] = async () => ($"/admin/clients/{await ClientAsync()}", null),
        ["PUT /admin/clients/{name}/grants"] = async () => ($"/admin/clients/{await ClientAsync()}/grants",
            new { providers = new[] { await _world.ProviderAsync(DialectNames.SimpleJwt) } }),
        ["POST /admin/clients/{name}/rotate"] = async () => ($"/admin/clients/{await ClientAsync()}/rotate", new { overlap_seconds = 60 }),
        ["POST /admin/clients/{name}/revoke"] = async () => ($"/admin/clients/{await ClientAsync()}/revoke", null),
        ["DELETE /admin/clients/{name}"] = async () => ($"/admin/clients/{await ClientAsync()}", null),
        ["POST /admin/issuers"] = () => Task.FromResult<(string, object?)>(("/admin/issuers", IssuerBody(Name("i")))),
        ["DELETE /admin/issuers/{name}"] = async () => ($"/admin/issuers/{await IssuerAsync()}", null),
        ["GET /admin/issuers/{name}"] = async () => ($"/admin/issuers/{await IssuerAsync()}", null),
        ["PUT /admin/issuers/{name}"] = async () => await IssuerAsync() is var name ? ($"/admin/issuers/{name}", IssuerBody(name)) : default,
        ["POST /admin/clients/{name}/identities"] = async () => ($"/admin/clients/{await ClientAsync()}/identities",
            new { issuer = await IssuerAsync(), subject = "system:serviceaccount:ns:sa" }),
        ["GET /admin/clients/{name}/identities"] = async () => ($"/admin/clients/{await ClientAsync()}/identities", null),
        ["DELETE /admin/clients/{name}/identities/{id}"] = async () =>
        {
            var client = await ClientAsync();
            var bound = await _world.AdminAsync(HttpMethod.Post, $"/admin/clients/{client}/identities",
                new { issuer = await IssuerAsync(), subject = "system:serviceaccount:ns:sa" }, HttpStatusCode.Created);
            return ($"/admin/clients/{client}/identities/{bound["id"]!.GetValue<string>()}", null);
        },
        ["POST /admin/audit/token-hmac"] = () => Task.FromResult<(string, object?)>(("/admin/audit/token-hmac", new { access_token = "some-token" })),
        ["POST /admin/webhooks"] = () => Task.FromResult<(string, object?)>(("/admin/webhooks",
            new { url = "https://hooks.example.com/broker", events = new[] { "account.needs_attention" } })),
        ["GET /admin/webhooks/{id}"] = async () => ($"/admin/webhooks/{await WebhookAsync()}", null),
        ["PATCH /admin/webhooks/{id}"] = async () => ($"/admin/webhooks/{await WebhookAsync()}", new { description = "changed" }),
        ["DELETE /admin/webhooks/{id}"] = async () => ($"/admin/webhooks/{await WebhookAsync()}", null),
        ["GET /admin/webhooks/{id}/deliveries"] = async () => ($"/admin/webhooks/{await WebhookAsync()}/deliveries", null),
        ["GET /admin/reports/usage"] = () => Task.FromResult<(string, object?)>(
            ("/admin/reports/usage?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&group_by=day", null)),
    };

    private string Name(string prefix) => $"{prefix}-{Interlocked.Increment(ref _n)}";

    private string Secret()
    {
        var secret = $"s-{Guid.NewGuid():N}";
        _world.Secrets.Add(secret);
        return secret;
    }

    private static object IssuerBody(string name) => new
    {
        name, issuer = $"https://{name}.example", audience = "broker",
        jwks = System.Text.Json.Nodes.JsonNode.Parse(new Identity.TokenSigner("https://x.example", "k1").Jwks()),
    };

    private async Task<string> IssuerAsync()
    {
        var name = Name("i");
        await _world.AdminAsync(HttpMethod.Post, "/admin/issuers", IssuerBody(name), HttpStatusCode.Created);
        return name;
    }

    private object ProviderBody(string? name) => new
    {
        name, dialect = "oauth2-client-credentials", token_url = new Uri(_world.SimulatorHost.BaseAddress, "o/token/").ToString(),
        client_id = "app", client_secret = Secret(),
    };

    private async Task<string> ProviderAsync()
    {
        var name = Name("p");
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers", ProviderBody(name), HttpStatusCode.Created);
        return name;
    }

    private async Task<string> AuthorizationCodeAccountAsync()
    {
        var provider = Name("p");
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers", new
        {
            name = provider, dialect = "oauth2-authorization-code", token_url = new Uri(_world.SimulatorHost.BaseAddress, "o/token/").ToString(),
            authorization_url = new Uri(_world.SimulatorHost.BaseAddress, "oauth2/authorize").ToString(), client_id = "app",
        }, HttpStatusCode.Created);
        var account = Name("a");
        await _world.AdminAsync(HttpMethod.Post, "/admin/accounts", new { name = account, provider }, HttpStatusCode.Created);
        return account;
    }

    private async Task<string> AccountAsync() => (await _world.AccountAsync(DialectNames.SimpleJwt)).Name;

    private async Task<string> WebhookAsync() => (await _world.AdminAsync(HttpMethod.Post, "/admin/webhooks",
        new { url = "https://hooks.example.com/broker", events = new[] { "account.inactive" } }, HttpStatusCode.Created))["id"]!.GetValue<string>();

    private async Task<string> ClientAsync()
    {
        var name = Name("c");
        await _world.AdminAsync(HttpMethod.Post, "/admin/clients", new { name }, HttpStatusCode.Created);
        return name;
    }

    private async Task<string> RevokedAdminKeyAsync()
    {
        var created = await _world.AdminAsync(HttpMethod.Post, "/admin/clients", new { name = "revoked-admin", role = "admin" }, HttpStatusCode.Created);
        var key = created["api_key"]!.GetValue<string>();
        using (var works = await _world.Broker.GetAsync("/admin/clients", key)) works.StatusCode.ShouldBe(HttpStatusCode.OK);
        await _world.AdminAsync(HttpMethod.Post, "/admin/clients/revoked-admin/revoke");
        return key;
    }

    private static (string Method, string Pattern) Split(string endpoint) => (endpoint[..endpoint.IndexOf(' ')], endpoint[(endpoint.IndexOf(' ') + 1)..]);
}
