using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Deployment;

/// <summary>
/// <c>./run.sh</c> as a newcomer runs it, from a clean state: it serves where it says it does, with the Swagger UI,
/// and the admin key it prints works. Its state folder and ports are the test's own, so a developer's
/// <c>.local</c> and running broker are left alone; everything it started is stopped, also when the test fails.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed partial class RunScriptTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3); // dotnet run checks the build first

    // In Production the broker makes up no KEK: run.sh passes the one it keeps as the KEK.
    [Theory]
    [InlineData("Development")]
    [InlineData("Production")]
    public async Task Run_sh_serves_on_the_port_it_prints_with_swagger_and_a_working_admin_key(string environment)
    {
        var state = Path.Combine(Path.GetTempPath(), $"broker-run-test-{Guid.NewGuid():N}"[..32]);
        Directory.CreateDirectory(state);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(state, (UnixFileMode)0b111_101_101); // PostgreSQL runs as user postgres when we are root
        int brokerPort = RepositoryFiles.FreePort(), postgresPort = RepositoryFiles.FreePort();
        var start = new ProcessStartInfo("bash", [RepositoryFiles.PathOf("run.sh"), "--port", brokerPort.ToString()])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepositoryFiles.Root,
        };
        start.Environment["BROKER_STATE_DIR"] = state;
        start.Environment["BROKER_PG_PORT"] = postgresPort.ToString();
        start.Environment.Remove("ConnectionStrings__Broker");
        start.Environment.Remove("Broker__Bootstrap__AdminKey");
        start.Environment.Remove("BROKER_URL");
        start.Environment["ASPNETCORE_ENVIRONMENT"] = environment;
        // No build servers: they would outlive the test.
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment["UseSharedCompilation"] = "false";

        var printed = new StringBuilder();
        using var broker = new Process { StartInfo = start };
        broker.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (printed) printed.AppendLine(e.Data); };
        broker.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (printed) printed.AppendLine(e.Data); };
        try
        {
            broker.Start();
            broker.BeginOutputReadLine();
            broker.BeginErrorReadLine();
            var url = $"http://127.0.0.1:{brokerPort}";
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            await WaitUntilReady(http, $"{url}/health/ready", broker, printed);

            Output(printed).ShouldContain($"Broker on {url} ");
            if (environment == "Development") (await http.GetAsync($"{url}/swagger/index.html")).StatusCode.ShouldBe(HttpStatusCode.OK);
            var adminKey = AdminKeyLine().Match(Output(printed)) is { Success: true } m ? m.Groups[1].Value : throw new ShouldAssertException($"No admin key printed:\n{Output(printed)}");
            using var providers = new HttpRequestMessage(HttpMethod.Get, $"{url}/admin/providers");
            providers.Headers.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
            (await http.SendAsync(providers)).StatusCode.ShouldBe(HttpStatusCode.OK);
            File.Exists(Path.Combine(state, "key-encryption.key")).ShouldBeTrue("the generated key-encryption key is kept in the state folder");
        }
        finally
        {
            if (!broker.HasExited) broker.Kill(entireProcessTree: true);
            await broker.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            // run.sh leaves its PostgreSQL running for the next start (pg_ctl detaches it): stop it.
            await RepositoryFiles.RunAsync("bash", [RepositoryFiles.PathOf("scripts/local-postgres.sh"), "stop"], TimeSpan.FromSeconds(60),
                new Dictionary<string, string> { ["BROKER_PG_DATA"] = Path.Combine(state, "pg") });
            try { Directory.Delete(state, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        RepositoryFiles.IsListening(brokerPort).ShouldBeFalse("the broker still listens");
        RepositoryFiles.IsListening(postgresPort).ShouldBeFalse("PostgreSQL still listens");
    }

    private static async Task WaitUntilReady(HttpClient http, string readyUrl, Process broker, StringBuilder printed)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout)
        {
            if (broker.HasExited) throw new ShouldAssertException($"run.sh exited ({broker.ExitCode}) before the broker was ready:\n{Output(printed)}");
            try
            {
                if ((await http.GetAsync(readyUrl)).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { } // not listening yet
            catch (TaskCanceledException) { }
            await Task.Delay(250); // polling a port: there is no event to await
        }
        throw new ShouldAssertException($"{readyUrl} did not answer within {StartTimeout}:\n{Output(printed)}");
    }

    private static string Output(StringBuilder printed)
    {
        lock (printed) return printed.ToString();
    }

    [GeneratedRegex(@"Admin key \(for Swagger's Authorize button\): (\S+)")]
    private static partial Regex AdminKeyLine();
}
