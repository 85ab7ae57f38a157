using System.Text.Json;
using Broker.IntegrationTests.Support;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Broker.IntegrationTests.Admin;

/// <summary>
/// The Swagger UI in a real headless Chromium (Debian's, which .ci/run installs): an admin authorizes with a key and
/// creates a provider and an account by editing the example bodies, and the broker then serves that account.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class SwaggerUiBrowserTests(ITestOutputHelper output) : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task Admin_creates_a_provider_and_an_account_through_the_swagger_ui()
    {
        _world.Simulator.AddUser("ui-user", "ui-password-7f3a");
        _world.Secrets.Add("ui-password-7f3a");
        var tokenUrl = new Uri(_world.SimulatorHost.BaseAddress, "api/v3/accounts/token/obtain/").ToString();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await HeadlessChromium.LaunchAsync(playwright);
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        page.SetDefaultTimeout(30_000);
        var seen = new List<string>(); // every admin answer the browser got, for the secret scan

        await page.GotoAsync(new Uri(_world.Broker.BaseAddress, "/swagger").ToString());
        await page.Locator(".opblock-summary-path[data-path='/admin/providers']").First.WaitForAsync();

        await page.Locator("button.authorize").First.ClickAsync();
        await page.Locator(".modal-ux input").FillAsync(BrokerWorld.AdminKey);
        await page.Locator(".modal-ux .auth-btn-wrapper button.authorize").ClickAsync();
        await page.Locator(".modal-ux button.btn-done").ClickAsync();

        var provider = await ExecuteAsync(page, "/admin/providers",
            new { name = "ui-provider", dialect = "simplejwt", token_url = tokenUrl }, seen);
        provider.Status.ShouldBe(201, provider.Body);
        var account = await ExecuteAsync(page, "/admin/accounts",
            new { name = "ui-account", provider = "ui-provider", username = "ui-user", password = "ui-password-7f3a" }, seen);
        account.Status.ShouldBe(201, account.Body);

        var screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(screenshots);
        var whole = Path.Combine(screenshots, "swagger-ui-admin.png");
        var created = Path.Combine(screenshots, "swagger-ui-account-created.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = whole, FullPage = true });
        await Operation(page, "/admin/accounts").ScreenshotAsync(new LocatorScreenshotOptions { Path = created });
        foreach (var path in new[] { whole, created })
        {
            output.WriteLine($"Screenshot: {path}");
            Console.WriteLine($"Screenshot: {path}");
        }

        // Read back through the API, and use: the account the UI made serves tokens.
        var readProvider = await _world.AdminAsync(HttpMethod.Get, "/admin/providers/ui-provider");
        readProvider["token_url"]!.GetValue<string>().ShouldBe(tokenUrl);
        var readAccount = await _world.AdminAsync(HttpMethod.Get, "/admin/accounts/ui-account");
        readAccount["provider"]!.GetValue<string>().ShouldBe("ui-provider");
        readAccount["has_password"]!.GetValue<bool>().ShouldBeTrue();
        var key = await _world.ConsumerAsync("ui-account");
        _world.Simulator.IsValidAccessToken(await _world.Broker.TokenAsync("ui-account", key)).ShouldBeTrue();

        seen.ShouldAllBe(body => !body.Contains("ui-password-7f3a"));
    }

    private static ILocator Operation(IPage page, string path) => page.Locator("div.opblock-post").Filter(new LocatorFilterOptions
    {
        Has = page.Locator($".opblock-summary-path[data-path='{path}']"),
    });

    /// <summary>Opens a POST operation, presses "Try it out", replaces the example body and presses "Execute".</summary>
    private static async Task<(int Status, string Body)> ExecuteAsync(IPage page, string path, object body, List<string> seen)
    {
        var operation = Operation(page, path);
        await operation.Locator(".opblock-summary").First.ClickAsync();
        await operation.GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Try it out" }).ClickAsync();
        var editor = operation.Locator("textarea.body-param__text");
        (await editor.InputValueAsync()).ShouldContain("\"name\""); // the example body is there to edit
        await editor.FillAsync(JsonSerializer.Serialize(body, BrokerWorld.Json));

        var response = await page.RunAndWaitForResponseAsync(
            () => operation.GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Execute" }).ClickAsync(),
            r => r.Url.EndsWith(path, StringComparison.Ordinal) && r.Request.Method == "POST");
        var text = await response.TextAsync();
        seen.Add(text);
        // The UI shows the answer too: wait for it, so the screenshot has it.
        await operation.Locator(".live-responses-table .response-col_status").First.WaitForAsync();
        return (response.Status, text);
    }
}
