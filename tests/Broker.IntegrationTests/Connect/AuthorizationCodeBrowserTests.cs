using System.Net;
using Broker.IntegrationTests.Support;
using Broker.Simulator;
using Microsoft.Playwright;

namespace Broker.IntegrationTests.Connect;

/// <summary>
/// Connecting an account as a person does it, in a real headless Chromium: the admin's authorization URL, the
/// simulator's consent page, Approve (or Deny), the broker's callback page; then the consumer's tokens.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class AuthorizationCodeBrowserTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;
    private string _provider = null!;

    public async Task InitializeAsync()
    {
        _world = await ConnectWorld.StartAsync();
        _provider = await ConnectWorld.ProviderAsync(_world);
    }

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task A_person_connects_an_account_in_a_browser_and_the_broker_serves_and_refreshes_it()
    {
        var (account, user, password) = await ConnectWorld.AccountAsync(_world, _provider, "browser-approve");
        var key = await _world.ConsumerAsync(account);
        var authorizationUrl = await ConnectWorld.BeginAsync(_world, account);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await HeadlessChromium.LaunchAsync(playwright);
        var page = await browser.NewPageAsync();
        page.SetDefaultTimeout(30_000);
        await page.GotoAsync(authorizationUrl);
        await page.Locator("#username").FillAsync(user);
        await page.Locator("#password").FillAsync(password);
        await page.Locator("#approve").ClickAsync();
        await WaitForCallbackPageAsync(page, "Account connected");
        (await page.Locator("#message").TextContentAsync())!.ShouldContain(account);

        var first = await _world.Broker.TokenAsync(account, key);
        _world.Simulator.IsValidAccessToken(first).ShouldBeTrue();
        _world.Clock.Advance(SimulatorState.DefaultAccessLifetime + TimeSpan.FromMinutes(1));
        var second = await _world.Broker.TokenAsync(account, key);
        second.ShouldNotBe(first);
        _world.Simulator.Refreshes(user).ShouldBe(1);
        _world.Simulator.TotalLogins.ShouldBe(0);
        _world.Simulator.AuthorizationCodes.CodesExchanged.ShouldBe(1);
    }

    [Fact]
    public async Task A_person_who_denies_sees_so_and_the_account_stays_unconnected()
    {
        var (account, _, _) = await ConnectWorld.AccountAsync(_world, _provider, "browser-deny");
        var authorizationUrl = await ConnectWorld.BeginAsync(_world, account);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await HeadlessChromium.LaunchAsync(playwright);
        var page = await browser.NewPageAsync();
        page.SetDefaultTimeout(30_000);
        await page.GotoAsync(authorizationUrl);
        await page.Locator("#deny").ClickAsync();
        await WaitForCallbackPageAsync(page, "Access denied");
        (await page.Locator("#message").TextContentAsync())!.ShouldContain(account);

        var (status, body, _) = await _world.Broker.FetchAsync(account, await _world.ConsumerAsync(account));
        status.ShouldBe(HttpStatusCode.Conflict);
        body["type"]!.GetValue<string>().ShouldEndWith("/account-not-connected");
        _world.Simulator.AuthorizationCodes.CodesIssued.ShouldBe(0);
    }

    /// <summary>
    /// The consent page redirects to the broker's callback. Waiting for the URL and then for the page's text, rather
    /// than for the navigation's load event: once, in CI, the wait for the load event hung until its timeout.
    /// </summary>
    private async Task WaitForCallbackPageAsync(IPage page, string title)
    {
        await page.WaitForURLAsync(url => url.StartsWith(ConnectWorld.CallbackUrl(_world), StringComparison.Ordinal),
            new PageWaitForURLOptions { WaitUntil = WaitUntilState.Commit });
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync(title);
    }
}
