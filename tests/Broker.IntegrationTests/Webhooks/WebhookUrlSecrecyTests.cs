using System.Diagnostics;
using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Support;
using Broker.Simulator;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace Broker.IntegrationTests.Webhooks;

/// <summary>
/// A webhook URL that carries its secret in the path and the query (Slack's style) is sent to, but appears in no log
/// line and no exported span: outbound calls are logged and traced by host only.
/// </summary>
public sealed class WebhookUrlSecrecyTests
{
    [Fact]
    public async Task A_secret_in_a_webhook_url_reaches_no_log_line_and_no_span()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var spans = new Spans();
        await using var world = await BrokerWorld.StartAsync(brokers: 0, settings: new Dictionary<string, string?>
        {
            ["Broker:Webhooks:AllowPlainHttp"] = "true",
            ["Broker:Webhooks:PollInterval"] = "00:00:00.200",
        });
        var broker = await world.AddBrokerAsync(builder => builder.Services.AddOpenTelemetry().WithTracing(t => t.AddInMemoryExporter(spans)));
        const string pathSecret = "PathSecret0123456789abcdef", querySecret = "QuerySecret0123456789abcdef";
        await world.AdminAsync(HttpMethod.Post, "/admin/webhooks",
            new { url = receiver.Url($"/services/T0AAA/B0BBB/{pathSecret}?token={querySecret}"), events = new[] { WebhookEvents.Inactive } },
            HttpStatusCode.Created);

        var account = await world.AccountAsync(DialectNames.SlideRule);
        world.Simulator.SetFault(Fault.Inactive, account.Username);
        (await broker.FetchAsync(account.Name, await world.ConsumerAsync(account.Name))).Status.ShouldBe(HttpStatusCode.Conflict);
        (await receiver.WaitForCountAsync(1)).ShouldHaveSingleItem().Path.ShouldContain(pathSecret); // it was sent there
        // The call's span ends inside the handler that writes its log line.
        await Poll.UntilAsync(() => Task.FromResult(world.Logs.Lines.Any(l => l.Contains("Outbound webhooks call POST", StringComparison.Ordinal))));
        broker.Services.GetRequiredService<TracerProvider>().ForceFlush();

        var port = receiver.BaseAddress.Port;
        var calls = spans.Snapshot().Where(s => s.Source.Name == "System.Net.Http" && Equals(s.GetTagItem("server.port"), port)).ToList();
        calls.ShouldNotBeEmpty();
        calls.ShouldAllBe(s => (string?)s.GetTagItem("url.full") == $"http://127.0.0.1:{port}/");
        // The receiver runs in this process, and its own server span (which rightly has its path) is exported too.
        var ours = spans.Snapshot().Where(s => !(s.Kind == ActivityKind.Server && Equals(s.GetTagItem("server.port"), port))).ToList();
        var texts = ours.SelectMany(s => s.TagObjects.Select(t => $"{t.Key}={t.Value}")
            .Concat(s.Events.SelectMany(e => e.Tags.Select(t => $"{t.Key}={t.Value}"))).Append(s.DisplayName).Append(s.StatusDescription ?? ""));
        texts.Where(t => t.Contains(pathSecret, StringComparison.Ordinal) || t.Contains(querySecret, StringComparison.Ordinal)).ShouldBeEmpty();

        world.Logs.Lines.ShouldContain(l => l.Contains($"Outbound webhooks call POST 127.0.0.1:{port} answered 200", StringComparison.Ordinal));
        world.Logs.Lines.ShouldNotContain(l => l.Contains(pathSecret, StringComparison.Ordinal) || l.Contains(querySecret, StringComparison.Ordinal));
    }

    /// <summary>The exporter's collection: spans of every test in the process end here, from many threads.</summary>
    private sealed class Spans : ICollection<Activity>
    {
        private readonly List<Activity> _items = [];
        private readonly Lock _gate = new();

        public List<Activity> Snapshot()
        {
            lock (_gate) return [.. _items];
        }

        public void Add(Activity item)
        {
            lock (_gate) _items.Add(item);
        }

        public void Clear()
        {
            lock (_gate) _items.Clear();
        }

        public bool Contains(Activity item)
        {
            lock (_gate) return _items.Contains(item);
        }

        public void CopyTo(Activity[] array, int arrayIndex)
        {
            lock (_gate) _items.CopyTo(array, arrayIndex);
        }

        public bool Remove(Activity item)
        {
            lock (_gate) return _items.Remove(item);
        }

        public int Count
        {
            get { lock (_gate) return _items.Count; }
        }

        public bool IsReadOnly => false;

        public IEnumerator<Activity> GetEnumerator() => Snapshot().GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
