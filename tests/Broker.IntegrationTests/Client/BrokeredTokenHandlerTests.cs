using System.Net;
using System.Net.Http.Json;
using Broker.Client;
using Broker.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Broker.IntegrationTests.Client;

/// <summary>
/// Broker.Client's handler on a real HttpClient, against a real broker and the simulator's protected resource
/// (<c>/whoami</c>, which accepts only valid tokens it issued), all on the world's manual clock.
/// </summary>
public sealed class BrokeredTokenHandlerTests : IAsyncLifetime
{
    private static readonly TimeSpan AccessLifetime = TimeSpan.FromMinutes(5); // the simulator's default

    private readonly RequestRecorder _broker = new();   // what the client asks the broker
    private readonly RequestRecorder _upstream = new(); // what reaches /whoami, retries included
    private readonly LogSink _clientLogs = new();
    private BrokerWorld _world = null!;
    private TestAccount _account = null!;
    private string _key = null!;
    private ServiceProvider _services = null!;

    public async Task InitializeAsync()
    {
        _world = await BrokerWorld.StartAsync();
        _account = await _world.AccountAsync("sliderule");
        _key = await _world.ConsumerAsync(_account.Name);

        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(_world.Clock);
        services.AddLogging(logging => logging.AddProvider(_clientLogs).SetMinimumLevel(LogLevel.Debug));
        services.AddBrokerTokenClient(o =>
            {
                o.BrokerUrl = _world.Broker.BaseAddress;
                o.ClientKey = _key;
            })
            .AddHttpMessageHandler(_broker.Handler);
        services.AddHttpClient("sliderule", c => c.BaseAddress = _world.SimulatorHost.BaseAddress)
            .AddBrokeredToken(_account.Name, o =>
            {
                o.MinValidity = TimeSpan.FromSeconds(60);
                o.RenewBefore = TimeSpan.FromSeconds(30);
            })
            .AddHttpMessageHandler(_upstream.Handler);
        _services = services.BuildServiceProvider();
    }

    public async Task DisposeAsync()
    {
        await _services.DisposeAsync();
        await _world.DisposeAsync();
    }

    private HttpClient Upstream => _services.GetRequiredService<IHttpClientFactory>().CreateClient("sliderule");

    private int TokenFetches => _broker.Count(HttpMethod.Get, "/token");

    private int RejectionReports => _broker.Count(HttpMethod.Post, "/token/rejected");

    [Fact]
    public async Task Request_carries_a_brokered_token_the_upstream_accepts()
    {
        using var response = await Upstream.GetAsync("/whoami");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadFromJsonAsync<WhoAmI>(BrokerWorld.Json))!.Username.ShouldBe(_account.Username);
        TokenFetches.ShouldBe(1);
        _world.Simulator.Logins(_account.Username).ShouldBe(1);
    }

    [Fact]
    public async Task Second_request_uses_the_cached_token_without_asking_the_broker()
    {
        (await Upstream.GetAsync("/whoami")).StatusCode.ShouldBe(HttpStatusCode.OK);
        _world.Clock.Advance(TimeSpan.FromMinutes(4)); // 60 s left: more than RenewBefore

        (await Upstream.GetAsync("/whoami")).StatusCode.ShouldBe(HttpStatusCode.OK);

        TokenFetches.ShouldBe(1);
        _upstream.Tokens.Distinct().Count().ShouldBe(1);
    }

    [Fact]
    public async Task Token_near_expiry_is_renewed_from_the_broker_before_it_is_sent()
    {
        (await Upstream.GetAsync("/whoami")).StatusCode.ShouldBe(HttpStatusCode.OK);
        _world.Clock.Advance(AccessLifetime - TimeSpan.FromSeconds(20)); // inside RenewBefore (30 s)

        (await Upstream.GetAsync("/whoami")).StatusCode.ShouldBe(HttpStatusCode.OK);

        TokenFetches.ShouldBe(2);
        _upstream.Tokens.Distinct().Count().ShouldBe(2);
        _world.Simulator.Refreshes(_account.Username).ShouldBe(1); // the broker refreshed for our min_validity
        RejectionReports.ShouldBe(0);
    }

    [Fact]
    public async Task Refused_token_is_reported_once_and_the_request_retried_with_a_fresh_token()
    {
        (await Upstream.GetAsync("/whoami")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var refused = _upstream.Tokens.Single();
        _world.Simulator.RevokeAccessToken(refused).ShouldBeTrue();

        using var response = await Upstream.GetAsync("/whoami");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        RejectionReports.ShouldBe(1);
        TokenFetches.ShouldBe(2);
        _upstream.Tokens.Count.ShouldBe(3);
        _upstream.Tokens[1].ShouldBe(refused);
        _upstream.Tokens[2].ShouldNotBe(refused);
        _world.Simulator.IsValidAccessToken(_upstream.Tokens[2]).ShouldBeTrue();

        // The fresh token is cached in its turn.
        (await Upstream.GetAsync("/whoami")).StatusCode.ShouldBe(HttpStatusCode.OK);
        TokenFetches.ShouldBe(2);
    }

    [Fact]
    public async Task Second_refusal_is_returned_to_the_caller_without_another_retry()
    {
        (await Upstream.GetAsync("/whoami")).StatusCode.ShouldBe(HttpStatusCode.OK);
        // From now on the upstream refuses every token it is shown, fresh ones included.
        _upstream.BeforeSend = request => _world.Simulator.RevokeAccessToken(request.Headers.Authorization!.Parameter!);

        using var response = await Upstream.GetAsync("/whoami");

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        _upstream.Tokens.Count.ShouldBe(3); // the first request, then one attempt and one retry
        RejectionReports.ShouldBe(1);
        TokenFetches.ShouldBe(2);
    }

    [Fact]
    public async Task Concurrent_first_requests_share_one_broker_fetch()
    {
        var client = Upstream;

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => client.GetAsync("/whoami")));

        responses.ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK);
        TokenFetches.ShouldBe(1);
        _world.Simulator.Logins(_account.Username).ShouldBe(1);
    }

    [Fact]
    public async Task Concurrent_refusals_of_one_token_are_reported_once()
    {
        var client = Upstream;
        (await client.GetAsync("/whoami")).StatusCode.ShouldBe(HttpStatusCode.OK);
        _world.Simulator.RevokeAccessToken(_upstream.Tokens.Single());

        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => client.GetAsync("/whoami")));

        responses.ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK);
        RejectionReports.ShouldBe(1);
        TokenFetches.ShouldBe(2);
    }

    [Fact]
    public async Task Broker_refusal_surfaces_as_an_exception_with_the_problem_type()
    {
        var other = await _world.AccountAsync("keycloak"); // exists, but our key is not granted it
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(_world.Clock);
        services.AddLogging();
        services.AddHttpClient("keycloak", c => c.BaseAddress = _world.SimulatorHost.BaseAddress)
            .AddBrokeredToken(other.Name, o =>
            {
                o.BrokerUrl = _world.Broker.BaseAddress;
                o.ClientKey = _key;
            })
            .AddHttpMessageHandler(_upstream.Handler);
        await using var provider = services.BuildServiceProvider();

        var error = await Should.ThrowAsync<BrokerTokenException>(
            () => provider.GetRequiredService<IHttpClientFactory>().CreateClient("keycloak").GetAsync("/whoami"));

        error.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        error.ProblemType.ShouldBe("https://broker.dev/errors/not-granted");
        error.Account.ShouldBe(other.Name);
        _upstream.Requests.ShouldBeEmpty();
    }

    [Fact]
    public async Task Client_logs_name_the_account_but_never_a_token_or_the_key()
    {
        (await Upstream.GetAsync("/whoami")).StatusCode.ShouldBe(HttpStatusCode.OK);
        _world.Simulator.RevokeAccessToken(_upstream.Tokens.Single());
        (await Upstream.GetAsync("/whoami")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var lines = _clientLogs.Lines;
        lines.ShouldContain(line => line.Contains(_account.Name) && line.Contains("retrying once"));
        foreach (var secret in _upstream.Tokens.Append(_key))
            lines.ShouldNotContain(line => line.Contains(secret));
    }

    private sealed record WhoAmI(string Username, string Dialect);
}
