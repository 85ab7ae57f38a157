using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Broker.Bench;

/// <summary>The simulator and broker instances as real processes on loopback, as in production.</summary>
public sealed class Stack : IAsyncDisposable
{
    public const string AdminKey = "bench-admin-key-0123456789abcdef0123456789abcdef";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    private readonly List<Process> _brokers = [];
    private readonly string _root;
    private readonly string _connectionString;
    private Process? _simulator;
    private Process? _ceiling;

    public Stack(string root, string connectionString)
    {
        _root = root;
        _connectionString = connectionString;
        Http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 2000 }) { Timeout = TimeSpan.FromSeconds(120) };
    }

    public HttpClient Http { get; }
    public Uri Simulator { get; private set; } = null!;
    public List<Uri> Brokers { get; } = [];
    public string ConnectionString => _connectionString;
    public IEnumerable<int> BrokerPids => _brokers.Select(b => b.Id);
    public int CeilingPid => _ceiling?.Id ?? throw new InvalidOperationException("The ceiling is not running.");

    public async Task StartSimulatorAsync()
    {
        var port = FreePort();
        _simulator = Start(Path.Combine(_root, "tests/Broker.Simulator/bin/Release/net10.0/Broker.Simulator.dll"), port, new());
        Simulator = new Uri($"http://127.0.0.1:{port}");
        await WaitReadyAsync(new Uri(Simulator, "/_sim/counters"));
    }

    public async Task<Uri> StartBrokerAsync(Dictionary<string, string> settings) => (await StartBrokersAsync(1, settings))[0];

    /// <summary>Several instances started side by side (a deploy starts them so too), returned once all are ready.</summary>
    public async Task<List<Uri>> StartBrokersAsync(int count, Dictionary<string, string> settings)
    {
        var uris = Enumerable.Range(0, count).Select(_ => LaunchBroker(settings)).ToList();
        await Task.WhenAll(uris.Select(uri => WaitReadyAsync(new Uri(uri, "/health/ready"))));
        return uris;
    }

    private Uri LaunchBroker(Dictionary<string, string> settings)
    {
        var port = FreePort();
        var env = new Dictionary<string, string>
        {
            ["ConnectionStrings__Broker"] = _connectionString,
            ["Broker__KeyEncryption__Key"] = Convert.ToBase64String(Enumerable.Range(7, 32).Select(i => (byte)i).ToArray()),
            ["Broker__Bootstrap__AdminKey"] = AdminKey,
            ["Broker__RateLimits__PerSecond"] = "10000000",
            ["Broker__RateLimits__Burst"] = "10000000",
            // Every request of the benchmark comes from one address.
            ["Broker__RateLimits__PerAddressPerSecond"] = "10000000",
            ["Broker__RateLimits__PerAddressBurst"] = "10000000",
            ["Broker__Benchmark__CeilingEndpoint"] = "true",
            // The simulator listens on plain http on loopback, which the broker refuses unless allowed.
            ["Broker__Upstream__AllowedNetworks__0"] = "127.0.0.0/8",
            ["Broker__Upstream__AllowPlainHttp__0"] = "*",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Broker"] = Environment.GetEnvironmentVariable("BENCH_VERBOSE") == "1" ? "Information" : "Warning",
        };
        foreach (var (key, value) in settings) env[key] = value;
        // BENCH_BROKER_DLL: measure another build of the broker, e.g. a ReadyToRun publish.
        var dll = Environment.GetEnvironmentVariable("BENCH_BROKER_DLL") is { Length: > 0 } other ? other : Path.Combine(_root, "src/Broker.Api/bin/Release/net10.0/Broker.Api.dll");
        _brokers.Add(Start(dll, port, env));
        var uri = new Uri($"http://127.0.0.1:{port}");
        Brokers.Add(uri);
        return uri;
    }

    /// <summary>The separate minimal app the cached fetch is compared with (bench/Broker.Bench.Ceiling), accepting one key.</summary>
    public async Task<Uri> StartCeilingAsync(string key)
    {
        var port = FreePort();
        _ceiling = Start(Path.Combine(_root, "bench/Broker.Bench.Ceiling/bin/Release/net10.0/Broker.Bench.Ceiling.dll"), port, new() { ["CEILING_KEY"] = key });
        var uri = new Uri($"http://127.0.0.1:{port}");
        await WaitReadyAsync(new Uri(uri, "/health/ready"));
        return uri;
    }

    public async Task StopCeilingAsync()
    {
        if (_ceiling is null) return;
        _ceiling.Kill(entireProcessTree: true);
        await _ceiling.WaitForExitAsync();
        _ceiling = null;
    }

    public async Task StopBrokersAsync()
    {
        foreach (var broker in _brokers)
        {
            broker.Kill(entireProcessTree: true);
            await broker.WaitForExitAsync();
        }
        _brokers.Clear();
        Brokers.Clear();
    }

    public async Task<JsonNode?> AdminAsync(HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(Brokers[0], path)) { Content = body is null ? null : JsonContent.Create(body, options: Json) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{method} {path}: {(int)response.StatusCode} {text}");
        return text.Length == 0 ? null : JsonNode.Parse(text);
    }

    public async Task SimAsync(HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(Simulator, path)) { Content = body is null ? null : JsonContent.Create(body, options: Json) };
        using var response = await Http.SendAsync(request);
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"simulator {path}: {(int)response.StatusCode}");
    }

    public async Task<JsonNode> SimCountersAsync() => JsonNode.Parse(await Http.GetStringAsync(new Uri(Simulator, "/_sim/counters")))!;

    public async Task<(HttpStatusCode Status, JsonNode? Body)> FetchAsync(Uri broker, string account, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(broker, $"/v1/accounts/{account}/token"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, response.IsSuccessStatusCode ? JsonNode.Parse(text) : null);
    }

    private static Process Start(string dll, int port, Dictionary<string, string> env)
    {
        var start = new ProcessStartInfo("dotnet", [dll, $"--urls=http://127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in env) start.Environment[key] = value;
        var process = Process.Start(start)!;
        var logFile = Environment.GetEnvironmentVariable("BENCH_LOG_DIR") is { Length: > 0 } logDir
            ? new StreamWriter(Path.Combine(Directory.CreateDirectory(logDir).FullName, $"{Path.GetFileNameWithoutExtension(dll)}-{port}.log")) { AutoFlush = true }
            : null;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null) lock (process) logFile?.WriteLine(e.Data);
            if (e.Data is not null && Environment.GetEnvironmentVariable("BENCH_VERBOSE") == "1" && e.Data.Contains("Upstream"))
                Console.WriteLine($"  [{port}] {DateTime.UtcNow:HH:mm:ss.fff} {e.Data[..Math.Min(e.Data.Length, 400)]}");
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"  [{port}] {e.Data}"); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private async Task WaitReadyAsync(Uri uri)
    {
        // Polled often: the scale scenario times a start-up by it.
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(120))
        {
            try
            {
                using var response = await Http.GetAsync(uri);
                if (response.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(20);
        }
        throw new TimeoutException($"{uri} did not become ready");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await StopBrokersAsync();
        await StopCeilingAsync();
        if (_simulator is { HasExited: false }) _simulator.Kill(entireProcessTree: true);
        Http.Dispose();
    }
}
