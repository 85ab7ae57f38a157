using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Broker.IntegrationTests.Support;

/// <summary>One webhook request as the receiver got it.</summary>
public sealed record ReceivedWebhook(string Path, string? EventId, string? Event, string? Signature, string Body)
{
    public JsonObject Json => JsonNode.Parse(Body)!.AsObject();
}

/// <summary>
/// An admin's webhook endpoint on its own loopback port: records every request and answers with the status the
/// test chose for that request's number (200 unless told). Tests await what they expect to have arrived.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<ReceivedWebhook> _received = [];
    private readonly List<(Func<IReadOnlyList<ReceivedWebhook>, bool> Condition, TaskCompletionSource Done)> _waiters = [];

    private WebhookReceiver(WebApplication app) => _app = app;

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The status for the n-th request (from 1); 200 unless set.</summary>
    public Func<int, int> Answer { get; set; } = _ => 200;

    /// <summary>Whether the receiver records each request and then never answers (a receiver that hangs).</summary>
    public bool Hangs { get; set; }

    public IReadOnlyList<ReceivedWebhook> Received
    {
        get { lock (_received) return [.. _received]; }
    }

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(["--urls=http://127.0.0.1:0"]);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.Run(receiver.HandleAsync);
        await app.StartAsync();
        receiver.BaseAddress = new Uri(app.ListeningAddress());
        return receiver;
    }

    public string Url(string path) => new Uri(BaseAddress, path).ToString();

    /// <summary>Completes once the requests received satisfy <paramref name="condition"/> (fails after a minute).</summary>
    public async Task<IReadOnlyList<ReceivedWebhook>> WaitForAsync(Func<IReadOnlyList<ReceivedWebhook>, bool> condition)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_received)
        {
            if (condition(_received)) return [.. _received];
            _waiters.Add((condition, done));
        }
        await done.Task.WaitAsync(TimeSpan.FromSeconds(60));
        return Received;
    }

    public Task<IReadOnlyList<ReceivedWebhook>> WaitForCountAsync(int count) => WaitForAsync(r => r.Count >= count);

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        var body = await reader.ReadToEndAsync();
        var request = new ReceivedWebhook(context.Request.Path, context.Request.Headers["Broker-Event-Id"].FirstOrDefault(),
            context.Request.Headers["Broker-Event"].FirstOrDefault(), context.Request.Headers["Broker-Signature"].FirstOrDefault(), body);
        int number;
        lock (_received)
        {
            _received.Add(request);
            number = _received.Count;
            foreach (var waiter in _waiters.Where(w => w.Condition(_received)).ToList())
            {
                _waiters.Remove(waiter);
                waiter.Done.TrySetResult();
            }
        }
        if (Hangs)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
        context.Response.StatusCode = Answer(number);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
