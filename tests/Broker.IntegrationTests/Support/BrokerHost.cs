using System.Net.Http.Headers;
using Broker.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Broker.IntegrationTests.Support;

/// <summary>One broker instance on a real Kestrel port, built by the same composition root as production.</summary>
public sealed class BrokerHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _http;

    private BrokerHost(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1000 }) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public Uri BaseAddress { get; }

    public IServiceProvider Services => _app.Services;

    /// <param name="configure">A test's own additions to the host (an in-memory telemetry exporter, say), after the world's.</param>
    public static async Task<BrokerHost> StartAsync(IReadOnlyDictionary<string, string?> settings, TimeProvider clock, LogSink logs,
        Action<WebApplicationBuilder>? configure = null)
    {
        var app = BrokerApp.Create(["--urls=http://127.0.0.1:0", "--environment=Production"], builder =>
        {
            builder.Configuration.AddInMemoryCollection(settings);
            builder.Services.AddSingleton(clock);
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(logs);
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            configure?.Invoke(builder);
        });
        await app.StartAsync();
        var address = app.ListeningAddress();
        return new BrokerHost(app, new Uri(address));
    }

    /// <summary>A request with the given API key (none when null).</summary>
    public HttpRequestMessage Request(HttpMethod method, string path, string? apiKey, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        if (apiKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return request;
    }

    /// <summary>Every body this host answered on /admin, for the scan that must find no secret in them.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> AdminResponses { get; } = new();

    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct = default)
    {
        var response = await _http.SendAsync(request, ct);
        // HttpClient has made the URI absolute by now.
        if (request.RequestUri is { IsAbsoluteUri: true } uri && uri.AbsolutePath.StartsWith("/admin", StringComparison.Ordinal))
        {
            await response.Content.LoadIntoBufferAsync(ct);
            AdminResponses.Enqueue(WithoutNewApiKey(await response.Content.ReadAsStringAsync(ct)));
        }
        return response;
    }

    /// <summary>
    /// The answers that create a client or rotate its key show the new key, once, by design (and tests keep such
    /// keys among their secrets): the scan looks at everything else in them.
    /// </summary>
    private static string WithoutNewApiKey(string text)
    {
        if (!text.Contains("\"api_key\"", StringComparison.Ordinal)) return text;
        try
        {
            if (System.Text.Json.Nodes.JsonNode.Parse(text) is not System.Text.Json.Nodes.JsonObject answer) return text;
            answer["api_key"] = "(new key, shown once)";
            return answer.ToJsonString();
        }
        catch (System.Text.Json.JsonException)
        {
            return text;
        }
    }

    public Task<HttpResponseMessage> GetAsync(string path, string? apiKey) => SendAsync(Request(HttpMethod.Get, path, apiKey));

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync(); // also closes the broker's connection pool
    }
}
