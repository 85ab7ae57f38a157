using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;

namespace Broker.IntegrationTests.Support;

/// <summary>
/// The broker as a real operating-system process (Broker.Api.dll), for tests that kill it or run its commands. It binds
/// a port of its own choosing (port 0) and is reached at the address it says it listens on: a port picked for it
/// beforehand could be taken by another test's server before it binds it, and that server's answers (its readiness,
/// its 401 for a key of another database) would be taken for this broker's (ProcessStartTests).
/// </summary>
public sealed partial class BrokerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private BrokerProcess(Process process) => _process = process;

    public Uri BaseAddress { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public string Output => string.Join('\n', _output);

    /// <summary>A consumer's token fetch with the given key (the client's own header, not <see cref="Http"/>'s default).</summary>
    public Task<HttpResponseMessage> TokenAsync(string account, string key, int minValidity)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/accounts/{account}/token?min_validity={minValidity}");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return Http.SendAsync(request);
    }

    public static Task<BrokerProcess> StartAsync(IReadOnlyDictionary<string, string?> settings) => StartAsync(settings, "http://127.0.0.1:0");

    /// <summary>With the address to bind given (<c>--urls</c>): only for the test of what happens when it is taken.</summary>
    public static async Task<BrokerProcess> StartAsync(IReadOnlyDictionary<string, string?> settings, string urls)
    {
        var start = StartInfo(settings, [$"--urls={urls}"]);
        start.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information"; // "Now listening on: ..."
        var process = Process.Start(start)!;
        var broker = new BrokerProcess(process);
        process.OutputDataReceived += (_, e) => broker.Received(e.Data);
        process.ErrorDataReceived += (_, e) => broker.Received(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            broker.BaseAddress = await broker.WaitUntilListeningAsync();
            broker.Http = new HttpClient { BaseAddress = broker.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            await broker.WaitUntilReadyAsync();
            return broker;
        }
        catch
        {
            await broker.DisposeAsync();
            throw;
        }
    }

    private void Received(string? line)
    {
        if (line is null) return;
        _output.Enqueue(line);
        if (ListeningOn().Match(line) is { Success: true } match) _listening.TrySetResult(new Uri(match.Groups[1].Value));
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:[0-9]+)")]
    private static partial System.Text.RegularExpressions.Regex ListeningOn();

    /// <summary>The address this process says it bound: no other server's answer is taken for its own.</summary>
    private async Task<Uri> WaitUntilListeningAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!_listening.Task.IsCompleted)
        {
            if (_process.HasExited)
            {
                _process.WaitForExit(); // the rest of its output
                if (_listening.Task.IsCompleted) break;
                throw new InvalidOperationException($"The broker exited ({_process.ExitCode}) before listening:\n{Output}");
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"The broker did not start listening:\n{Output}");
            await Task.WhenAny(_listening.Task, Task.Delay(50));
        }
        return await _listening.Task;
    }

    /// <summary>Runs a command of the executable (<c>create-admin-key ...</c>) to its end.</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunCommandAsync(
        IReadOnlyDictionary<string, string?> settings, params string[] arguments)
    {
        using var process = Process.Start(StartInfo(settings, arguments))!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await output, await error);
    }

    private static ProcessStartInfo StartInfo(IReadOnlyDictionary<string, string?> settings, string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Broker.Api.dll"), .. arguments])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in settings) start.Environment[key.Replace(":", "__")] = value;
        return start;
    }

    /// <summary>SIGKILL: no shutdown, no flush, no rollback from our side.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>SIGTERM, as an orchestrator stops a container: the broker shuts down gracefully.</summary>
    public async Task StopAsync()
    {
        if (Terminate(_process.Id, SigTerm) != 0) throw new InvalidOperationException("Sending SIGTERM failed.");
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
    }

    private const int SigTerm = 15;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Terminate(int pid, int signal);

    private async Task WaitUntilReadyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) throw new InvalidOperationException($"The broker exited ({_process.ExitCode}):\n{Output}");
            try
            {
                using var response = await Http.GetAsync("/health/ready");
                if (response.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"The broker did not become ready:\n{Output}");
    }

    public ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (!_process.HasExited) Kill();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
