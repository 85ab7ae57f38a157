using Broker.Client;
using Broker.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Broker.IntegrationTests.Client;

/// <summary>Broker.Client's typed client for fetching tokens directly, against a real broker, and its settings checks.</summary>
public sealed class BrokerTokenClientTests(SharedWorld shared) : IClassFixture<SharedWorld>
{
    private readonly BrokerWorld _world = shared.World;

    private ServiceProvider Services(string key)
    {
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(_world.Clock);
        services.AddLogging();
        services.AddBrokerTokenClient(o =>
        {
            o.BrokerUrl = _world.Broker.BaseAddress;
            o.ClientKey = key;
        });
        return services.BuildServiceProvider();
    }

    [Fact]
    public async Task Typed_client_fetches_a_token_valid_for_at_least_the_asked_time()
    {
        var account = await _world.AccountAsync("simplejwt");
        await using var services = Services(await _world.ConsumerAsync(account.Name));

        var token = await services.GetRequiredService<BrokerTokenClient>().GetTokenAsync(account.Name, TimeSpan.FromMinutes(2));

        _world.Simulator.IsValidAccessToken(token.AccessToken).ShouldBeTrue();
        token.TokenType.ShouldBe("Bearer");
        token.Account.ShouldBe(account.Name);
        (token.ExpiresAt - _world.Clock.GetUtcNow()).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromMinutes(2));
        token.ToString().ShouldNotContain(token.AccessToken);
    }

    [Fact]
    public async Task Reported_token_is_replaced_on_the_next_fetch()
    {
        var account = await _world.AccountAsync("keycloak");
        await using var services = Services(await _world.ConsumerAsync(account.Name));
        var client = services.GetRequiredService<BrokerTokenClient>();
        var first = await client.GetTokenAsync(account.Name);

        await client.ReportRejectedAsync(account.Name, first.AccessToken);
        var second = await client.GetTokenAsync(account.Name);

        second.AccessToken.ShouldNotBe(first.AccessToken);
        _world.Simulator.IsValidAccessToken(second.AccessToken).ShouldBeTrue();
    }

    [Fact]
    public async Task Unknown_key_surfaces_as_an_unauthorized_problem()
    {
        var account = await _world.AccountAsync("sliderule");
        await using var services = Services("brk_not-a-key-of-this-broker");

        var error = await Should.ThrowAsync<BrokerTokenException>(
            () => services.GetRequiredService<BrokerTokenClient>().GetTokenAsync(account.Name));

        error.StatusCode.ShouldBe(System.Net.HttpStatusCode.Unauthorized);
        error.Message.ShouldNotContain("brk_not-a-key");
    }

    [Fact]
    public void Invalid_settings_fail_at_start_naming_the_account_and_the_setting()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHttpClient("upstream").AddBrokeredToken("sliderule-prod", o =>
        {
            o.BrokerUrl = new Uri("ftp://broker.internal/");
            o.MinValidity = TimeSpan.FromSeconds(10);
            o.RenewBefore = TimeSpan.FromSeconds(20);
        });
        using var provider = services.BuildServiceProvider();

        var message = Should.Throw<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate()).Message;

        message.ShouldContain("BrokerUrl for account 'sliderule-prod'");
        message.ShouldContain("ClientKey for account 'sliderule-prod'");
        message.ShouldContain("RenewBefore for account 'sliderule-prod'");
    }
}
