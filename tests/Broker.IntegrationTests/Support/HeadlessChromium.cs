using Microsoft.Playwright;

namespace Broker.IntegrationTests.Support;

/// <summary>Debian's Chromium (which .ci/run installs) driven by Playwright, headless, for the browser tests.</summary>
public static class HeadlessChromium
{
    public const string Path = "/usr/bin/chromium";

    /// <summary>
    /// Launches it. No silent skip: CI installs Chromium, so its absence is a broken setup, not a reason to pass.
    /// </summary>
    public static async Task<IBrowser> LaunchAsync(IPlaywright playwright)
    {
        File.Exists(Path).ShouldBeTrue($"{Path} is missing: apt-get install -y chromium chromium-driver (.ci/run does this)");
        return await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Path,
            Headless = true,
            // Without the background-networking flags Chromium keeps dialling Google, which this closed network refuses.
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync"],
        });
    }
}
