using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Admin;

/// <summary>
/// Secrets are write-only. Every test's world scans its admin responses when it is disposed; this test makes a
/// point of sending secrets everywhere an answer might echo them: successes, refusals, bad bodies, failed logins.
/// </summary>
public sealed class SecretLeakTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    private string Secret(string label)
    {
        var secret = $"{label}-{Guid.NewGuid():N}";
        _world.Secrets.Add(secret);
        return secret;
    }

    [Fact]
    public async Task No_admin_response_or_log_line_contains_a_secret_the_broker_was_given()
    {
        var tokenUrl = new Uri(_world.SimulatorHost.BaseAddress, "o/token/").ToString();
        var providerSecret = Secret("provider-secret");
        _world.Simulator.AddClient("shared-client", providerSecret);
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers", new
        {
            name = "cc", dialect = "oauth2-client-credentials", token_url = tokenUrl, client_id = "shared-client", client_secret = providerSecret,
        }, HttpStatusCode.Created);
        await _world.AdminAsync(HttpMethod.Put, "/admin/providers/cc",
            new { dialect = "oauth2-client-credentials", token_url = tokenUrl, client_id = "shared-client", client_secret = providerSecret });
        await _world.AdminAsync(HttpMethod.Post, "/admin/accounts", new { name = "cc-account", provider = "cc" }, HttpStatusCode.Created);

        var ok = await _world.AccountAsync(DialectNames.OAuth2Password);
        var rejected = await _world.AccountAsync(DialectNames.SlideRule);
        _world.Simulator.SetPassword(rejected.Username, Secret("upstream-only"));
        foreach (var name in new[] { ok.Name, rejected.Name, "cc-account" })
        {
            await _world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{name}/test");
            await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{name}");
        }
        await _world.AdminAsync(HttpMethod.Patch, $"/admin/accounts/{ok.Name}", new { password = Secret("patched"), client_secret = Secret("patched-cs") });
        await _world.AdminAsync(HttpMethod.Put, $"/admin/accounts/{rejected.Name}",
            new { provider = "sim-sliderule", username = rejected.Username, password = Secret("put"), org_name = "UofMDTest" });
        await _world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{ok.Name}/revoke");

        // Refusals that carry a secret in the body.
        await _world.SendAsync(HttpMethod.Post, "/admin/accounts",
            body: new { name = "x", provider = "sim-simplejwt", username = "u", password = Secret("long") + new string('p', 4000) });
        await _world.SendAsync(HttpMethod.Post, "/admin/accounts", rawBody: $$"""{"name":"x","pasword":"{{Secret("misspelt")}}"}""");
        await _world.SendAsync(HttpMethod.Post, "/admin/accounts", rawBody: $$"""{"name":"x","password":"{{Secret("broken")}}" """);
        await _world.SendAsync(HttpMethod.Post, "/admin/accounts", rawBody: $$"""{"name":"x","password":["{{Secret("wrong-type")}}"]}""");
        await _world.SendAsync(HttpMethod.Post, "/admin/providers",
            body: new { name = "u", dialect = "simplejwt", token_url = $"https://me:{Secret("userinfo")}@idp.example/t" });
        await _world.SendAsync(HttpMethod.Post, "/admin/providers",
            body: new { name = "cc", dialect = "simplejwt", token_url = tokenUrl, client_secret = Secret("duplicate") });
        await _world.SendAsync(HttpMethod.Put, "/admin/accounts/nope", body: new { provider = "cc", password = Secret("not-found") });

        var created = await _world.AdminAsync(HttpMethod.Post, "/admin/clients", new { name = "svc", accounts = new[] { ok.Name } }, HttpStatusCode.Created);
        var apiKey = created["api_key"]!.GetValue<string>();
        await _world.AdminAsync(HttpMethod.Get, "/admin/clients");
        await _world.AdminAsync(HttpMethod.Get, "/admin/providers");
        await _world.AdminAsync(HttpMethod.Get, "/admin/accounts");

        // The scan sees every body (the create answer's new key aside, which is shown there by design, and only there).
        _world.AdminResponses.Count().ShouldBeGreaterThan(25);
        _world.AdminResponses.ShouldContain(body => body.Contains(ok.Username, StringComparison.Ordinal));
        _world.Secrets.Add(apiKey);

        _world.SecretsInAdminResponses().ShouldBeEmpty();
        var secrets = _world.Secrets.ToList();
        _world.Logs.Lines.Where(line => secrets.Any(s => line.Contains(s, StringComparison.Ordinal))).ShouldBeEmpty();
        (await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{rejected.Name}"))["state"]!.GetValue<string>().ShouldBe("active");
    }
}
