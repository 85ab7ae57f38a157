using System.Net;
using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Broker.Infrastructure.Upstream;
using Broker.IntegrationTests.Support;
using Broker.Simulator;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Tokens;

/// <summary>Every dialect, against the simulator over real HTTP: log in, serve from memory, refresh, fall back to login.</summary>
public sealed class DialectFlowTests(SharedWorld shared) : IClassFixture<SharedWorld>
{
    private readonly BrokerWorld _world = shared.World;

    // The dialects the broker logs in with; oauth2-authorization-code accounts are connected by a person (Connect/).
    public static TheoryData<string> AllDialects => new(DialectNames.All.Where(d => DialectNames.Parse(d).LogsIn()));

    public static TheoryData<string> RefreshingDialects => new(DialectNames.All.Where(d => d != DialectNames.OAuth2ClientCredentials && DialectNames.Parse(d).LogsIn()));

    [Theory, MemberData(nameof(AllDialects))]
    public async Task First_fetch_logs_in_and_returns_a_token_the_upstream_accepts(string dialect)
    {
        var account = await _world.AccountAsync(dialect);
        var key = await _world.ConsumerAsync(account.Name);

        var (status, body, response) = await _world.Broker.FetchAsync(account.Name, key);

        status.ShouldBe(HttpStatusCode.OK, body.ToJsonString());
        _world.Simulator.Logins(account.UpstreamUser).ShouldBe(1);
        _world.Simulator.IsValidAccessToken(body["access_token"]!.GetValue<string>()).ShouldBeTrue();
        body["token_type"]!.GetValue<string>().ShouldBe("Bearer");
        body["account"]!.GetValue<string>().ShouldBe(account.Name);
        body["expires_in"]!.GetValue<long>().ShouldBeInRange(250, 3600);
        body.ContainsKey("refresh_token").ShouldBeFalse();
        response.Headers.CacheControl!.NoStore.ShouldBeTrue();
    }

    [Theory, MemberData(nameof(AllDialects))]
    public async Task Fetch_with_a_valid_cached_token_makes_no_upstream_call(string dialect)
    {
        var account = await _world.AccountAsync(dialect);
        var key = await _world.ConsumerAsync(account.Name);
        var first = await _world.Broker.TokenAsync(account.Name, key);
        var requests = _world.Simulator.TotalRequests;

        _world.Clock.Advance(TimeSpan.FromSeconds(20));
        var second = await _world.Broker.TokenAsync(account.Name, key);

        second.ShouldBe(first);
        _world.Simulator.TotalRequests.ShouldBe(requests);
    }

    [Theory, MemberData(nameof(RefreshingDialects))]
    public async Task Fetch_after_expiry_refreshes_instead_of_logging_in(string dialect)
    {
        var account = await _world.AccountAsync(dialect);
        var key = await _world.ConsumerAsync(account.Name);
        var first = await _world.Broker.TokenAsync(account.Name, key);

        _world.Clock.Advance(AccessLifetime);
        var second = await _world.Broker.TokenAsync(account.Name, key);

        second.ShouldNotBe(first);
        _world.Simulator.IsValidAccessToken(second).ShouldBeTrue();
        _world.Simulator.Logins(account.UpstreamUser).ShouldBe(1);
        _world.Simulator.Refreshes(account.UpstreamUser).ShouldBe(1);
    }

    [Fact]
    public async Task Client_credentials_log_in_again_after_expiry()
    {
        var account = await _world.AccountAsync(DialectNames.OAuth2ClientCredentials);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);

        _world.Clock.Advance(AccessLifetime);
        var second = await _world.Broker.TokenAsync(account.Name, key);

        _world.Simulator.IsValidAccessToken(second).ShouldBeTrue();
        _world.Simulator.Logins(account.UpstreamUser).ShouldBe(2);
        _world.Simulator.Refreshes(account.UpstreamUser).ShouldBe(0);
    }

    [Theory, MemberData(nameof(RefreshingDialects))]
    public async Task Used_refresh_token_leads_to_exactly_one_login(string dialect)
    {
        var account = await _world.AccountAsync(dialect);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);
        await SpendStoredRefreshTokenElsewhere(account.Name);

        _world.Clock.Advance(AccessLifetime);
        var token = await _world.Broker.TokenAsync(account.Name, key);

        _world.Simulator.IsValidAccessToken(token).ShouldBeTrue();
        _world.Simulator.Logins(account.UpstreamUser).ShouldBe(2);
        _world.Simulator.RejectedRefreshes(account.UpstreamUser).ShouldBe(1);

        // And the chain continues from the new login: the next expiry is a plain refresh.
        _world.Clock.Advance(AccessLifetime);
        await _world.Broker.TokenAsync(account.Name, key);
        _world.Simulator.Logins(account.UpstreamUser).ShouldBe(2);
        _world.Simulator.Refreshes(account.UpstreamUser).ShouldBe(2); // the one spent elsewhere, and ours
    }

    [Theory, MemberData(nameof(RefreshingDialects))]
    public async Task Expired_refresh_token_leads_to_exactly_one_login_without_trying_it(string dialect)
    {
        var account = await _world.AccountAsync(dialect);
        var key = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, key);

        _world.Clock.Advance(TimeSpan.FromDays(31)); // past every dialect's refresh lifetime in the simulator
        var token = await _world.Broker.TokenAsync(account.Name, key);

        _world.Simulator.IsValidAccessToken(token).ShouldBeTrue();
        _world.Simulator.Logins(account.UpstreamUser).ShouldBe(2);
        _world.Simulator.Refreshes(account.UpstreamUser).ShouldBe(0);
    }

    /// <summary>How far to move the clock so the stored access token (the simulator's 5 minutes) no longer serves.</summary>
    /// <summary>The simulator gives every dialect the same access-token lifetime.</summary>
    private static readonly TimeSpan AccessLifetime = SimulatorState.DefaultAccessLifetime;

    /// <summary>Someone else (a consumer that should never have had it) spends the refresh token the broker holds.</summary>
    private async Task SpendStoredRefreshTokenElsewhere(string accountName)
    {
        var services = _world.Broker.Services;
        await using var db = await services.GetRequiredService<IDbContextFactory<BrokerDbContext>>().CreateDbContextAsync();
        var account = await db.Accounts.Include(a => a.Provider).SingleAsync(a => a.Name == accountName);
        var refresh = services.GetRequiredService<SecretProtector>().Unprotect(SecretKind.RefreshToken, account.RefreshTokenEncrypted!);
        var secrets = services.GetRequiredService<SecretProtector>();
        var credentials = new AccountCredentials(account.Username, null, account.OrgName, account.ClientId ?? account.Provider!.ClientId,
            secrets.UnprotectOrNull(SecretKind.ClientSecret, account.ClientSecretEncrypted), null);
        var outcome = await services.GetRequiredService<UpstreamClient>().RefreshAsync(account.Provider!.ToEndpoint(), credentials, refresh, default);
        outcome.ShouldBeOfType<UpstreamOutcome.Granted>();
    }
}
