using System.Diagnostics;

namespace Broker.Infrastructure.Observability;

/// <summary>
/// The broker's spans (ActivitySource "Broker"): a token fetch that missed the cache, and within it the wait for
/// the account's row lock and each upstream login or refresh. The database commands under them come from Npgsql's
/// own instrumentation, the HTTP requests from HttpClient's. Attributes name accounts, dialects, kinds, outcomes
/// and statuses, never a token, key or secret. An ActivitySource has no factory: one per process is the norm, and
/// a span costs nothing unless a listener (an OpenTelemetry tracer provider) samples it.
/// </summary>
public static class BrokerTracing
{
    public const string SourceName = "Broker";

    private static readonly ActivitySource Source = new(SourceName);

    public static Activity? StartFetch(string account) =>
        Source.StartActivity("broker.token.fetch")?.SetTag("broker.account", account);

    public static Activity? StartLockWait() => Source.StartActivity("broker.lock.wait");

    public static Activity? StartUpstreamCall(string kind, string dialect, string provider) =>
        Source.StartActivity($"broker.upstream.{kind}")
            ?.SetTag("broker.upstream.kind", kind)
            .SetTag("broker.dialect", dialect)
            .SetTag("broker.provider", provider);

    public static void UpstreamCallEnded(Activity? activity, string outcome, int? status, bool succeeded)
    {
        if (activity is null) return;
        activity.SetTag("broker.upstream.outcome", outcome);
        if (status is { } code) activity.SetTag("http.response.status_code", code);
        if (!succeeded) activity.SetStatus(ActivityStatusCode.Error, outcome);
    }

    /// <summary>The fetch's result: "served", "not_found" or the failure's kind.</summary>
    public static void FetchEnded(Activity? activity, string result, bool succeeded)
    {
        if (activity is null) return;
        activity.SetTag("broker.token.result", result);
        if (!succeeded) activity.SetStatus(ActivityStatusCode.Error, result);
    }
}
