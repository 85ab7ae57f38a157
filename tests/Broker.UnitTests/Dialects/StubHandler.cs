using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Broker.UnitTests.Dialects;

/// <summary>Records what the client sends and answers with canned responses, in order.</summary>
internal sealed class StubHandler : HttpMessageHandler
{
    private readonly Queue<Func<CancellationToken, Task<HttpResponseMessage>>> _answers = new();

    public List<RecordedRequest> Requests { get; } = [];

    public RecordedRequest Single => Requests.ShouldHaveSingleItem();

    public StubHandler Answer(HttpStatusCode status, string body, Action<HttpResponseMessage>? configure = null)
    {
        _answers.Enqueue(_ =>
        {
            var response = new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            configure?.Invoke(response);
            return Task.FromResult(response);
        });
        return this;
    }

    public StubHandler Answer(Func<CancellationToken, Task<HttpResponseMessage>> answer)
    {
        _answers.Enqueue(answer);
        return this;
    }

    /// <summary>Answers only when cancelled: an upstream that never responds.</summary>
    public StubHandler Hang() => Answer(async ct =>
    {
        await Task.Delay(Timeout.Infinite, ct);
        throw new InvalidOperationException("unreachable");
    });

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Requests.Add(new RecordedRequest(
            request.Method,
            request.RequestUri!,
            request.Headers.Authorization,
            request.Headers.Accept.ToString(),
            request.Content?.Headers.ContentType?.MediaType,
            request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken)));
        if (!_answers.TryDequeue(out var answer)) throw new InvalidOperationException("The stub has no answer left: the client called out more often than expected.");
        return await answer(cancellationToken);
    }
}

internal sealed record RecordedRequest(
    HttpMethod Method, Uri Uri, AuthenticationHeaderValue? Authorization, string Accept, string? ContentType, string? Body)
{
    public JsonElement Json
    {
        get
        {
            ContentType.ShouldBe("application/json");
            using var document = JsonDocument.Parse(Body!);
            return document.RootElement.Clone();
        }
    }

    public string[] JsonFieldNames => Json.EnumerateObject().Select(p => p.Name).ToArray();

    /// <summary>The form fields, decoded as a server would (application/x-www-form-urlencoded).</summary>
    public Dictionary<string, string> Form
    {
        get
        {
            ContentType.ShouldBe("application/x-www-form-urlencoded");
            return Body!.Split('&', StringSplitOptions.RemoveEmptyEntries)
                .Select(pair => pair.Split('=', 2))
                .ToDictionary(kv => Decode(kv[0]), kv => Decode(kv[1]));
        }
    }

    private static string Decode(string value) => Uri.UnescapeDataString(value.Replace('+', ' '));
}
