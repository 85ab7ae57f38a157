using System.Collections.Concurrent;

namespace Broker.IntegrationTests.Client;

/// <summary>
/// Records the requests an HttpClient sends (method, path, the token in its Authorization header), and can act on
/// each one just before it leaves. Add <see cref="Handler"/> to the client's pipeline.
/// </summary>
public sealed class RequestRecorder
{
    private readonly ConcurrentQueue<Sent> _sent = new();

    /// <summary>Runs before each request goes out, e.g. to revoke the token it carries.</summary>
    public Action<HttpRequestMessage>? BeforeSend { get; set; }

    public IReadOnlyList<Sent> Requests => [.. _sent];

    public int Count(HttpMethod method, string pathEnd) => _sent.Count(s => s.Method == method && s.Path.EndsWith(pathEnd, StringComparison.Ordinal));

    public IReadOnlyList<string> Tokens => [.. _sent.Select(s => s.Token)];

    public DelegatingHandler Handler() => new RecordingHandler(this);

    public sealed record Sent(HttpMethod Method, string Path, string Token);

    private sealed class RecordingHandler(RequestRecorder recorder) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            recorder._sent.Enqueue(new Sent(request.Method, request.RequestUri!.AbsolutePath, request.Headers.Authorization?.Parameter ?? ""));
            recorder.BeforeSend?.Invoke(request);
            return base.SendAsync(request, ct);
        }
    }
}
