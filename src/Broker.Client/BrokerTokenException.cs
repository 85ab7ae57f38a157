using System.Net;

namespace Broker.Client;

/// <summary>
/// The broker did not hand out a token. <see cref="ProblemType"/> is the stable RFC 9457 <c>type</c> to branch on
/// (e.g. <c>https://broker.dev/errors/upstream-unavailable</c>); <see cref="RetryAfter"/> is set when the broker
/// says when to try again. An <see cref="HttpRequestException"/>, so code and resilience policies that handle
/// failed HTTP calls handle this one too.
/// </summary>
public sealed class BrokerTokenException(
    string account, HttpStatusCode? status, string? problemType, string? title, string? detail, TimeSpan? retryAfter, Exception? inner = null)
    : HttpRequestException(Describe(account, status, problemType, title, detail), inner, status)
{
    /// <summary>The account asked for.</summary>
    public string Account { get; } = account;

    /// <summary>The problem's <c>type</c> URI, or null when the broker did not answer with a problem.</summary>
    public string? ProblemType { get; } = problemType;

    /// <summary>The problem's title: a short, stable summary.</summary>
    public string? Title { get; } = title;

    /// <summary>The problem's detail, e.g. the upstream's status (never a secret).</summary>
    public string? Detail { get; } = detail;

    /// <summary>When to try again (the broker's Retry-After), for 429 and 503 answers.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;

    private static string Describe(string account, HttpStatusCode? status, string? type, string? title, string? detail) =>
        $"The broker gave no token for account '{account}'" +
        (status is { } s ? $": {(int)s}" : "") +
        (type is null ? "" : $" {type}") +
        (title is null ? "" : $" ({title})") +
        (detail is null ? "" : $": {detail}") + ".";
}
