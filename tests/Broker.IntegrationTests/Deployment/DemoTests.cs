using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Broker.IntegrationTests.Support;
using Microsoft.Playwright;

namespace Broker.IntegrationTests.Deployment;

/// <summary>
/// <c>./run.sh --demo</c> as a person runs it: a real process that builds, starts PostgreSQL, the simulator and the
/// broker, seeds them, prints a curl; the curl is run as printed; Ctrl-C stops everything. Ports and the data
/// folder are the test's own, so a developer's running demo or broker is left alone.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed partial class DemoTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(5); // includes the build on a fresh clone

    [Fact]
    public async Task Demo_prints_a_curl_that_fetches_a_token_and_a_connect_link_that_works_in_a_browser_and_stops_everything_on_ctrl_c()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"broker-demo-test-{Guid.NewGuid():N}"[..32]);
        int brokerPort = RepositoryFiles.FreePort(), simulatorPort = RepositoryFiles.FreePort(), postgresPort = RepositoryFiles.FreePort();
        var environment = new Dictionary<string, string>
        {
            ["BROKER_DEMO_DIR"] = dir,
            ["BROKER_DEMO_PORT"] = brokerPort.ToString(),
            ["BROKER_DEMO_SIM_PORT"] = simulatorPort.ToString(),
            ["BROKER_DEMO_PG_PORT"] = postgresPort.ToString(),
        };
        var start = new ProcessStartInfo("bash", [RepositoryFiles.PathOf("run.sh"), "--demo"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepositoryFiles.Root,
        };
        foreach (var (key, value) in environment) start.Environment[key] = value;

        var printed = new StringBuilder();
        var curl = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var demo = new Process { StartInfo = start, EnableRaisingEvents = true };
        demo.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (printed) printed.AppendLine(e.Data);
            // The last line of the banner that matters here: the connect link and the client key are printed above it.
            if (e.Data.TrimStart().StartsWith("A new link: ", StringComparison.Ordinal)) curl.TrySetResult(e.Data.Trim());
        };
        demo.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (printed) printed.AppendLine(e.Data); };
        demo.Exited += (_, _) => curl.TrySetException(new InvalidOperationException("The demo exited before printing a curl."));
        try
        {
            demo.Start();
            demo.BeginOutputReadLine();
            demo.BeginErrorReadLine();
            await WithOutput(() => curl.Task.WaitAsync(StartTimeout), printed);
            var command = Output(printed).Split('\n').Select(l => l.Trim())
                .First(l => l.StartsWith("curl ", StringComparison.Ordinal) && l.Contains("/sliderule-demo/token", StringComparison.Ordinal));

            var (exitCode, answer, error) = await RepositoryFiles.RunAsync("bash", ["-c", command], TimeSpan.FromSeconds(60));

            exitCode.ShouldBe(0, error);
            var token = JsonNode.Parse(answer)!.AsObject();
            token["account"]!.GetValue<string>().ShouldBe("sliderule-demo");
            token["token_type"]!.GetValue<string>().ShouldBe("Bearer");
            var accessToken = token["access_token"]!.GetValue<string>();
            accessToken.ShouldNotBeNullOrWhiteSpace();
            using (var http = new HttpClient())
            {
                using var whoami = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{simulatorPort}/whoami");
                whoami.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
                (await http.SendAsync(whoami)).StatusCode.ShouldBe(HttpStatusCode.OK);
            }

            await ConnectInABrowserAsync(Output(printed), brokerPort);

            PressCtrlC(demo);
            await WithOutput(() => demo.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(90)), printed);

            demo.ExitCode.ShouldBe(0, Output(printed));
            RepositoryFiles.IsListening(brokerPort).ShouldBeFalse("the broker still listens");
            RepositoryFiles.IsListening(simulatorPort).ShouldBeFalse("the simulator still listens");
            RepositoryFiles.IsListening(postgresPort).ShouldBeFalse("PostgreSQL still listens");
        }
        finally
        {
            if (!demo.HasExited) demo.Kill(entireProcessTree: true);
            // A failed run may leave its PostgreSQL behind (pg_ctl detaches it from our process tree).
            await RepositoryFiles.RunAsync("bash", [RepositoryFiles.PathOf("scripts/local-postgres.sh"), "stop"], TimeSpan.FromSeconds(60),
                new Dictionary<string, string> { ["BROKER_PG_DATA"] = Path.Combine(dir, "pg") });
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>
    /// The printed connect link, followed in headless Chromium through the simulator's consent as a person would,
    /// ends on the broker's "connected" page; the account then serves tokens to the demo's client key.
    /// </summary>
    private static async Task ConnectInABrowserAsync(string printed, int brokerPort)
    {
        var lines = printed.Split('\n').Select(l => l.Trim()).ToList();
        var link = lines[lines.FindIndex(l => l.StartsWith("Connect an account in a browser", StringComparison.Ordinal)) + 1];
        link.ShouldStartWith("http");
        var clientKey = ClientKeyLine().Match(printed).Groups[1].Value;

        using (var playwright = await Playwright.CreateAsync())
        {
            await using var browser = await HeadlessChromium.LaunchAsync(playwright);
            var page = await browser.NewPageAsync();
            page.SetDefaultTimeout(30_000);
            await page.GotoAsync(link);
            await page.Locator("#username").FillAsync("demo");
            await page.Locator("#password").FillAsync("demo-password");
            await page.Locator("#approve").ClickAsync();
            await page.WaitForURLAsync(url => url.StartsWith($"http://127.0.0.1:{brokerPort}/oauth/callback", StringComparison.Ordinal),
                new PageWaitForURLOptions { WaitUntil = WaitUntilState.Commit });
            await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Account connected");
        }

        using var http = new HttpClient();
        using var fetch = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{brokerPort}/v1/accounts/auth-code-demo/token");
        fetch.Headers.Authorization = new AuthenticationHeaderValue("Bearer", clientKey);
        using var answer = await http.SendAsync(fetch);
        var body = await answer.Content.ReadAsStringAsync();
        answer.StatusCode.ShouldBe(HttpStatusCode.OK, body);
        JsonNode.Parse(body)!["access_token"]!.GetValue<string>().ShouldNotBeNullOrWhiteSpace();
    }

    [GeneratedRegex(@"Client key:\s+(\S+)")]
    private static partial Regex ClientKeyLine();

    /// <summary>
    /// Ctrl-C in a terminal sends SIGINT, which the demo traps. A shell whose parent ignored SIGINT (some CI
    /// runners start jobs so) cannot trap it; there we send SIGTERM, which the demo handles with the same trap.
    /// </summary>
    private static void PressCtrlC(Process demo)
    {
        var caught = File.ReadAllLines($"/proc/{demo.Id}/status").Single(l => l.StartsWith("SigCgt:", StringComparison.Ordinal));
        var sigintTrapped = (Convert.ToUInt64(caught["SigCgt:".Length..].Trim(), 16) & (1UL << (2 - 1))) != 0; // bit n-1 is signal n
        Process.Start("kill", ["-s", sigintTrapped ? "INT" : "TERM", demo.Id.ToString()])!.WaitForExit();
    }

    private static async Task<T> WithOutput<T>(Func<Task<T>> wait, StringBuilder printed)
    {
        try
        {
            return await wait();
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
            throw new ShouldAssertException($"{e.Message}\nThe demo printed:\n{Output(printed)}", e);
        }
    }

    private static async Task WithOutput(Func<Task> wait, StringBuilder printed) =>
        await WithOutput(async () => { await wait(); return true; }, printed);

    private static string Output(StringBuilder printed)
    {
        lock (printed) return printed.ToString();
    }
}
