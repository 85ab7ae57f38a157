using System.Net;
using System.Net.Http.Headers;
using Broker.Domain;
using Broker.IntegrationTests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Broker.IntegrationTests.Reliability;

/// <summary>
/// Why a restarted broker answered a valid key 401 under load (RefreshOnlyKillTests in CI, issue 21): the test support
/// picked a free port, released it and told the new process to bind it. On a busy machine another test's server took
/// the port first; the new process failed to bind it and exited, but the other server answered the readiness poll,
/// and then the fetch, with a 401 for a key of another database. The support now lets the process bind a port of its
/// own choosing and reaches it at the address it reports.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class ProcessStartTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task A_broker_whose_port_another_server_took_is_never_mistaken_for_that_server()
    {
        // What took the port: a server that is ready, and refuses every key it does not know, as another broker does.
        var (other, address) = await OtherServerAsync();
        await using var _ = other;

        var started = await Should.ThrowAsync<InvalidOperationException>(() => BrokerProcess.StartAsync(_world.Settings, address));

        started.Message.ShouldContain("address already in use", Case.Insensitive);
    }

    [Fact]
    public async Task Two_brokers_started_at_once_each_serve_a_valid_key_at_the_address_each_bound()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(account.Name);

        var brokers = await Task.WhenAll(BrokerProcess.StartAsync(_world.Settings), BrokerProcess.StartAsync(_world.Settings));
        try
        {
            brokers[0].BaseAddress.ShouldNotBe(brokers[1].BaseAddress);
            foreach (var broker in brokers)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/accounts/{account.Name}/token");
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
                using var response = await broker.Http.SendAsync(request);
                response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
            }
        }
        finally
        {
            foreach (var broker in brokers) await broker.DisposeAsync();
        }
    }

    private static async Task<(WebApplication Server, string Address)> OtherServerAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(["--urls=http://127.0.0.1:0"]);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.Run(http =>
        {
            http.Response.StatusCode = http.Request.Path == "/health/ready" ? StatusCodes.Status200OK : StatusCodes.Status401Unauthorized;
            return Task.CompletedTask;
        });
        await app.StartAsync();
        return (app, app.ListeningAddress());
    }
}
