using System.Net;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Connect;

/// <summary>
/// The authorization-code dialect against a real OAuth2 server library (OpenIddict): connect (following the
/// redirects by hand, no browser), serve, refresh with its rotated refresh tokens, and a replayed callback.
/// </summary>
public sealed class OpenIddictConnectTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;
    private OpenIddictServer _server = null!;

    public async Task InitializeAsync()
    {
        _world = await ConnectWorld.StartAsync();
        _server = await OpenIddictServer.StartAsync(ConnectWorld.CallbackUrl(_world));
        _world.Secrets.Add(_server.ClientSecret);
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers", new
        {
            name = "openiddict",
            dialect = "oauth2-authorization-code",
            token_url = _server.TokenUrl.ToString(),
            authorization_url = _server.AuthorizationUrl.ToString(),
            client_id = OpenIddictServer.ClientId,
            client_secret = _server.ClientSecret,
            scope = "offline_access",
        }, HttpStatusCode.Created);
        await _world.AdminAsync(HttpMethod.Post, "/admin/accounts", new { name = "oidc-account", provider = "openiddict" }, HttpStatusCode.Created);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _world.DisposeAsync();
    }

    [Fact]
    public async Task Connects_serves_and_refreshes_against_openiddict()
    {
        var key = await _world.ConsumerAsync("oidc-account");
        (await _world.Broker.FetchAsync("oidc-account", key)).Status.ShouldBe(HttpStatusCode.Conflict);

        var authorizationUrl = await ConnectWorld.BeginAsync(_world, "oidc-account");
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var approved = await browser.GetAsync(authorizationUrl);
        approved.StatusCode.ShouldBe(HttpStatusCode.Redirect, await approved.Content.ReadAsStringAsync());
        var location = approved.Headers.Location!.ToString();
        location.ShouldStartWith(ConnectWorld.CallbackUrl(_world));
        var code = ConnectWorld.Query(location, "code");
        code.ShouldNotBeNullOrEmpty(location);

        var (status, page, _) = await ConnectWorld.CallbackAsync(_world, location);
        status.ShouldBe(HttpStatusCode.OK, page);
        page.ShouldContain("The account oidc-account is connected");
        page.ShouldNotContain(code);

        var first = await _world.Broker.TokenAsync("oidc-account", key);
        var tokenAnswers = _server.TokenAnswers;
        tokenAnswers.ShouldBe(1); // the code exchange

        // OpenIddict's access tokens live an hour: past that on the broker's clock, the broker refreshes, twice, each
        // time with the refresh token the previous answer rotated in.
        for (var i = 1; i <= 2; i++)
        {
            _world.Clock.Advance(TimeSpan.FromMinutes(61));
            var next = await _world.Broker.TokenAsync("oidc-account", key);
            next.ShouldNotBe(first);
            first = next;
            _server.TokenAnswers.ShouldBe(tokenAnswers + i);
        }
        _server.Approvals.ShouldBe(1);

        // The callback again: the state is spent, and nothing is sent to OpenIddict.
        var replay = await ConnectWorld.CallbackAsync(_world, location);
        replay.Status.ShouldBe(HttpStatusCode.BadRequest);
        replay.Page.ShouldContain("This link is no longer valid");
        _server.TokenAnswers.ShouldBe(tokenAnswers + 2);

        foreach (var secret in new[] { code!, first })
        {
            _world.Logs.Lines.ShouldNotContain(line => line.Contains(secret));
            (await ConnectWorld.AuditRowsAsync(_world)).ShouldNotContain(row => row.Contains(secret));
        }
    }
}
