using System.Net;
using Broker.Domain;
using Broker.Infrastructure.Identity;
using Broker.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Identity;

/// <summary>A service with no API key: a real OIDC server (OpenIddict) issues its token, found by discovery, its keys by JWKS.</summary>
public sealed class OpenIddictWorkloadTests
{
    [Fact]
    public async Task A_service_with_no_api_key_fetches_an_upstream_token_with_the_token_its_oidc_server_issued()
    {
        const string service = "payments-api";
        var secret = $"oidc-{Guid.NewGuid():N}";
        await using var oidc = await OpenIddictWorkloadIssuer.StartAsync(service, secret);
        await using var world = await BrokerWorld.StartAsync();
        var account = await world.AccountAsync(DialectNames.SimpleJwt);

        await world.AdminAsync(HttpMethod.Post, "/admin/issuers",
            new { name = "oidc", issuer = oidc.Issuer, audience = OpenIddictWorkloadIssuer.Audience }, HttpStatusCode.Created); // keys by discovery
        await world.AdminAsync(HttpMethod.Post, "/admin/clients", new { name = "payments", role = "consumer", accounts = new[] { account.Name } },
            HttpStatusCode.Created);
        await world.AdminAsync(HttpMethod.Post, "/admin/clients/payments/identities",
            new { issuer = "oidc", subject = service, claims = new Dictionary<string, string> { ["service"] = service } }, HttpStatusCode.Created);

        var token = await oidc.TokenAsync(service, secret);
        world.Clock.Advance(DateTimeOffset.UtcNow - world.Clock.GetUtcNow()); // the OIDC server dates its tokens by the real clock
        world.Secrets.Add(token);
        var (status, body, _) = await world.Broker.FetchAsync(account.Name, token);
        status.ShouldBe(HttpStatusCode.OK, body.ToJsonString());
        world.Simulator.IsValidAccessToken(body["access_token"]!.GetValue<string>()).ShouldBeTrue();
        world.Broker.Services.GetRequiredService<IssuerKeys>().Fetches.ShouldBe(1);

        var (other, refusal, _) = await world.Broker.FetchAsync("not-granted", token);
        other.ShouldBe(HttpStatusCode.Forbidden, refusal.ToJsonString()); // authenticated as the client, with its grants only
    }
}
