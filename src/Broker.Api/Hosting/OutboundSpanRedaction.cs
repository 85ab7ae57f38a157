using System.Diagnostics;
using OpenTelemetry;

namespace Broker.Api.Hosting;

/// <summary>
/// Cuts the path and query off the URL of every outbound HTTP span before any exporter sees it: a webhook URL may
/// carry its secret in the path (Slack's <c>/services/T…/B…/secret</c>), and HttpClient's own tracing redacts only the
/// query. The span keeps scheme, host and port (<c>url.full</c>, <c>server.address</c>, <c>server.port</c>), which
/// is what telling calls apart needs. Registered before the exporters, so it runs first at a span's end.
/// </summary>
public sealed class OutboundSpanRedaction : BaseProcessor<Activity>
{
    private const string HttpClientSource = "System.Net.Http";
    private static readonly string[] PathTags = ["url.path", "url.query", "http.url", "http.target"];

    public override void OnEnd(Activity activity)
    {
        if (activity.Source.Name != HttpClientSource || activity.Kind != ActivityKind.Client) return;
        if (activity.GetTagItem("url.full") is string full)
            activity.SetTag("url.full", Uri.TryCreate(full, UriKind.Absolute, out var url) ? $"{url.Scheme}://{url.Authority}/" : null);
        foreach (var tag in PathTags)
            if (activity.GetTagItem(tag) is not null) activity.SetTag(tag, null);
    }
}
