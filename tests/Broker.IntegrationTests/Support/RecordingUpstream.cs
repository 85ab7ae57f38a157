using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Broker.IntegrationTests.Support;

/// <summary>
/// An upstream on its own loopback port that records every request it gets (method, path, every header, the body,
/// HTTP Basic credentials decoded) and either relays it to another upstream (the simulator), recording the answer
/// too, or answers 401 itself: a destination an admin could point the broker at.
/// </summary>
public sealed class RecordingUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly ConcurrentQueue<string> _answers = new();

    private RecordingUpstream(WebApplication app) => _app = app;

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Every request as text: request line, headers, decoded Basic credentials and body.</summary>
    public IReadOnlyList<string> Requests => [.. _requests];

    /// <summary>The relayed answers' bodies (tokens the broker stored).</summary>
    public IReadOnlyList<string> Answers => [.. _answers];

    /// <param name="relayTo">Where requests are relayed; null to answer each with 401.</param>
    public static async Task<RecordingUpstream> StartAsync(Uri? relayTo = null)
    {
        var builder = WebApplication.CreateSlimBuilder(["--urls=http://127.0.0.1:0"]);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var upstream = new RecordingUpstream(app);
        app.Run(async context => await upstream.HandleAsync(context, relayTo));
        await app.StartAsync();
        upstream.BaseAddress = new Uri(app.ListeningAddress());
        return upstream;
    }

    public Uri Url(string path) => new(BaseAddress, path);

    public void Clear()
    {
        _requests.Clear();
        _answers.Clear();
    }

    /// <summary>The secrets among <paramref name="secrets"/> that appear in any recorded request.</summary>
    public List<string> Received(IEnumerable<string> secrets) =>
        secrets.Where(s => _requests.Any(r => r.Contains(s, StringComparison.Ordinal))).ToList();

    private async Task HandleAsync(HttpContext context, Uri? relayTo)
    {
        var request = context.Request;
        var body = await new StreamReader(request.Body, Encoding.UTF8).ReadToEndAsync();
        var text = new StringBuilder($"{request.Method} {request.Path}{request.QueryString}\n");
        foreach (var (name, value) in request.Headers) text.Append($"{name}: {value}\n");
        if (AuthenticationHeaderValue.TryParse(request.Headers.Authorization, out var auth) && auth is { Scheme: "Basic", Parameter: { } encoded })
        {
            try
            {
                // Form-encoded then base64 (RFC 6749 §2.3.1): record both the raw and the decoded credentials.
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
                text.Append($"basic: {decoded}\nbasic-unescaped: {Uri.UnescapeDataString(decoded.Replace('+', ' '))}\n");
            }
            catch (FormatException)
            {
                text.Append("basic: (not base64)\n");
            }
        }
        text.Append('\n').Append(body).Append('\n').Append(Uri.UnescapeDataString(body.Replace('+', ' ')));
        _requests.Enqueue(text.ToString());

        if (relayTo is null)
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("{\"detail\":\"recorded\"}");
            return;
        }

        using var http = new HttpClient();
        using var forward = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(relayTo, $"{request.Path}{request.QueryString}"))
        {
            Content = new StringContent(body, Encoding.UTF8),
        };
        if (request.ContentType is { } contentType) forward.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        if (request.Headers.Authorization is { Count: > 0 } authorization)
            forward.Headers.TryAddWithoutValidation("Authorization", authorization.ToString());
        using var answer = await http.SendAsync(forward);
        var answerBody = await answer.Content.ReadAsStringAsync();
        _answers.Enqueue(answerBody);
        context.Response.StatusCode = (int)answer.StatusCode;
        if (answer.Content.Headers.ContentType is { } type) context.Response.ContentType = type.ToString();
        await context.Response.WriteAsync(answerBody);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
