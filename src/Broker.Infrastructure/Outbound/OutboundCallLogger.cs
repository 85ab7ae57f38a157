using Microsoft.Extensions.Http.Logging;
using Microsoft.Extensions.Logging;

namespace Broker.Infrastructure.Outbound;

/// <summary>
/// The one log line of each call that leaves the broker, in place of the HTTP client factory's own (which write the
/// full URL four times a call). It names the method and the host, never a path or query: a webhook URL may carry its
/// secret in the path (Slack's <c>/services/T…/B…/secret</c>), a token endpoint's query a client's parameters.
/// </summary>
public sealed partial class OutboundCallLogger(ILogger<OutboundCallLogger> logger, string client) : IHttpClientLogger
{
    public object? LogRequestStart(HttpRequestMessage request) => null;

    public void LogRequestStop(object? context, HttpRequestMessage request, HttpResponseMessage response, TimeSpan elapsed) =>
        LogAnswered(client, request.Method.Method, HostOf(request), (int)response.StatusCode, elapsed.TotalMilliseconds);

    // The exception's type only: its message and inner exceptions are the caller's to judge (and log) in context.
    public void LogRequestFailed(object? context, HttpRequestMessage request, HttpResponseMessage? response, Exception exception, TimeSpan elapsed) =>
        LogFailed(client, request.Method.Method, HostOf(request), exception.GetType().Name, elapsed.TotalMilliseconds);

    private static string HostOf(HttpRequestMessage request) => request.RequestUri is { IsAbsoluteUri: true } uri ? uri.Authority : "";

    [LoggerMessage(Level = LogLevel.Information, Message = "Outbound {Client} call {Method} {Host} answered {StatusCode} in {ElapsedMs} ms")]
    private partial void LogAnswered(string client, string method, string host, int statusCode, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Outbound {Client} call {Method} {Host} failed ({Error}) after {ElapsedMs} ms")]
    private partial void LogFailed(string client, string method, string host, string error, double elapsedMs);
}
