using System.Net;
using System.Xml.Linq;
using Broker.IntegrationTests.Support;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Broker.IntegrationTests.Audit;

/// <summary>
/// The usage report as an SVG chart (format=svg): well-formed, with its labels escaped, and drawn by a real headless
/// Chromium both as an image and opened directly under the API's content security policy.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class UsageChartBrowserTests(ITestOutputHelper output) : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task Usage_chart_is_an_svg_that_chromium_renders()
    {
        var account = await _world.AccountAsync("simplejwt");
        var key = await _world.ConsumerAsync(account.Name);
        var start = _world.Clock.GetUtcNow();
        for (var hour = 0; hour < 4; hour++)
        {
            for (var i = 0; i <= hour; i++) await _world.Broker.TokenAsync(account.Name, key);
            (await _world.Broker.FetchAsync("not-granted", key)).Status.ShouldBe(HttpStatusCode.Forbidden);
            _world.Clock.Advance(TimeSpan.FromHours(1));
        }
        await _world.DrainAsync();
        var range = $"from={AuditSupport.Iso(start.AddHours(-1))}&to={AuditSupport.Iso(start.AddHours(6))}";

        var (status, svg, contentType) = await _world.AdminGetAsync($"/admin/reports/usage?{range}&format=svg", "*/*");
        status.ShouldBe(HttpStatusCode.OK, svg);
        contentType.ShouldBe("image/svg+xml");
        var document = XDocument.Parse(svg);
        XNamespace ns = "http://www.w3.org/2000/svg";
        document.Root!.Name.ShouldBe(ns + "svg");
        document.Descendants(ns + "polyline").Select(p => p.Attribute("data-series")!.Value).ShouldBe(["served", "refreshes", "failures"]);
        var texts = document.Descendants(ns + "text").Select(t => t.Value).ToList();
        texts.ShouldContain("served");
        texts.ShouldContain("failures");
        texts.ShouldContain("time (UTC)");
        svg.ShouldNotContain("style", Case.Insensitive); // presentation attributes only: nothing the CSP could block
        svg.ShouldNotContain("<script", Case.Insensitive);

        // A filter is caller text and appears in the subtitle: it is escaped, and the document stays well-formed.
        const string hostile = "</text><script>alert(1)</script>&\"'\u0001";
        var (_, filtered, _) = await _world.AdminGetAsync($"/admin/reports/usage?{range}&format=svg&account={Uri.EscapeDataString(hostile)}", "*/*");
        var parsed = XDocument.Parse(filtered);
        parsed.Descendants(ns + "script").ShouldBeEmpty();
        parsed.Descendants(ns + "text").Select(t => t.Value).ShouldContain("account </text><script>alert(1)</script>&\"'\uFFFD");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await HeadlessChromium.LaunchAsync(playwright);
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1000, Height = 480 } });
        page.SetDefaultTimeout(30_000);

        // As an image, the way a dashboard or a wiki page would embed it.
        var base64 = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(svg));
        await page.SetContentAsync($"<html><body style=\"margin:0\"><img id=\"chart\" src=\"data:image/svg+xml;base64,{base64}\"></body></html>");
        await page.WaitForFunctionAsync("() => document.getElementById('chart').complete");
        (await page.EvaluateAsync<int>("document.getElementById('chart').naturalWidth")).ShouldBe(960);
        (await page.EvaluateAsync<int>("document.getElementById('chart').naturalHeight")).ShouldBe(440);
        var screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(screenshots);
        var image = Path.Combine(screenshots, "usage-chart.png");
        await page.Locator("#chart").ScreenshotAsync(new LocatorScreenshotOptions { Path = image });
        output.WriteLine($"Screenshot: {image}");
        Console.WriteLine($"Screenshot: {image}");

        // Opened directly from the broker, under its default-src 'none' policy: the lines and labels are laid out.
        await page.SetExtraHTTPHeadersAsync(new Dictionary<string, string> { ["Authorization"] = $"Bearer {BrokerWorld.AdminKey}" });
        var response = await page.GotoAsync(new Uri(_world.Broker.BaseAddress, $"/admin/reports/usage?{range}&format=svg").ToString());
        response!.Status.ShouldBe(200);
        (await page.EvaluateAsync<double>("document.querySelector('polyline[data-series=served]').getBBox().width")).ShouldBeGreaterThan(100);
        (await page.EvaluateAsync<double>("document.querySelector('polyline[data-series=served]').getBBox().height")).ShouldBeGreaterThan(10);
        (await page.EvaluateAsync<double>("[...document.querySelectorAll('text')].find(t => t.textContent === 'failures').getBBox().width"))
            .ShouldBeGreaterThan(0);
        var direct = Path.Combine(screenshots, "usage-chart-direct.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = direct });
        output.WriteLine($"Screenshot: {direct}");
    }
}
