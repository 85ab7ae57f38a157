using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Broker.Domain;
using Broker.Infrastructure.Observability;
using Broker.IntegrationTests.Deployment;
using Broker.IntegrationTests.Support;
using Broker.Simulator;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Broker.IntegrationTests.Reliability;

/// <summary>
/// OpenTelemetry as an operator sees it: the spans and measurements of a miss, a hit, a refresh and a failure; no
/// secret in any of them; the Prometheus endpoint and its guard; the dashboard and alert rules against a real scrape.
/// </summary>
public sealed partial class TelemetryTests : IAsyncLifetime
{
    private readonly Exported<Activity> _spans = new();
    private readonly Exported<MetricSnapshot> _metrics = new();
    private readonly List<string> _handedOut = [BrokerWorld.AdminKey];
    private BrokerWorld _world = null!;
    private BrokerHost _broker = null!;

    public async Task InitializeAsync()
    {
        _world = await BrokerWorld.StartAsync(brokers: 0);
        // This host's own exporters; the ActivitySources are process-wide, so spans are told apart by trace id.
        _broker = await _world.AddBrokerAsync(builder =>
        {
            builder.Services.AddOpenTelemetry()
                .WithTracing(t => t.AddInMemoryExporter(_spans))
                .WithMetrics(m => m.AddInMemoryExporter(_metrics));
        });
    }

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task A_miss_a_hit_and_a_refresh_are_traced_and_measured()
    {
        var account = await _world.AccountAsync(DialectNames.Keycloak);
        var key = await KeyAsync(account.Name);
        var meters = _broker.Services.GetRequiredService<IMeterFactory>();
        using var served = new MetricCollector<long>(meters, BrokerMetrics.MeterName, "broker.tokens.served");
        using var calls = new MetricCollector<long>(meters, BrokerMetrics.MeterName, "broker.upstream.calls");
        using var durations = new MetricCollector<double>(meters, BrokerMetrics.MeterName, "broker.upstream.duration");
        using var lockWaits = new MetricCollector<double>(meters, BrokerMetrics.MeterName, "broker.lock.wait");

        var miss = await TracedFetchAsync(account.Name, key, HttpStatusCode.OK);
        var hit = await TracedFetchAsync(account.Name, key, HttpStatusCode.OK);
        _world.Clock.Advance(SimulatorState.DefaultAccessLifetime);
        var refresh = await TracedFetchAsync(account.Name, key, HttpStatusCode.OK);

        var login = UpstreamSpan(miss, "login");
        Tag(login, "broker.dialect").ShouldBe("keycloak");
        Tag(login, "broker.upstream.outcome").ShouldBe("granted");
        Tag(login, "http.response.status_code").ShouldBe(200);
        SpansOf(miss).ShouldContain(s => s.ParentSpanId == login.SpanId && s.Kind == ActivityKind.Client && s.Source.Name == "System.Net.Http");
        SpansOf(hit).ShouldNotContain(s => s.Source.Name == BrokerTracing.SourceName); // served from memory: no fetch
        Tag(UpstreamSpan(refresh, "refresh"), "broker.upstream.outcome").ShouldBe("granted");

        served.GetMeasurementSnapshot().Select(m => m.Tags["cache"]).ShouldBe(["miss", "hit", "miss"]);
        calls.GetMeasurementSnapshot().Select(m => $"{m.Tags["dialect"]} {m.Tags["kind"]} {m.Tags["outcome"]}")
            .ShouldBe(["keycloak login granted", "keycloak refresh granted"]);
        durations.GetMeasurementSnapshot().Count.ShouldBe(2);
        lockWaits.GetMeasurementSnapshot().Count.ShouldBe(2);
        NoSecretExported();
    }

    [Fact]
    public async Task Rejected_credentials_are_traced_as_an_error_and_counted()
    {
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        var key = await KeyAsync(account.Name);
        _world.Simulator.SetFault(Fault.RejectCredentials, account.Username);
        var meters = _broker.Services.GetRequiredService<IMeterFactory>();
        using var calls = new MetricCollector<long>(meters, BrokerMetrics.MeterName, "broker.upstream.calls");
        using var accounts = new MetricCollector<long>(meters, BrokerMetrics.MeterName, "broker.accounts");

        var failed = await TracedFetchAsync(account.Name, key, expected: null);

        var fetch = FetchSpan(failed);
        fetch.Status.ShouldBe(ActivityStatusCode.Error);
        Tag(fetch, "broker.token.result").ShouldBe("needs_attention");
        var login = UpstreamSpan(failed, "login");
        login.Status.ShouldBe(ActivityStatusCode.Error);
        Tag(login, "broker.upstream.outcome").ShouldBe("credentials_rejected");
        calls.GetMeasurementSnapshot().Select(m => m.Tags["outcome"]).ShouldBe(["credentials_rejected"]);

        await _broker.Services.GetRequiredService<AccountStateCounts>().CountAsync(CancellationToken.None);
        accounts.RecordObservableInstruments();
        accounts.GetMeasurementSnapshot().Where(m => Equals(m.Tags["state"], "needs_attention")).Select(m => m.Value).ShouldBe([1L]);
        NoSecretExported();
    }

    [Fact]
    public async Task No_token_key_or_secret_appears_in_any_span_or_metric()
    {
        var stored = await _world.StoredTokensAsync(DialectNames.All.Where(d => DialectNames.Parse(d).LogsIn()).ToArray());
        foreach (var (account, apiKey, token) in stored)
        {
            _handedOut.Add(apiKey);
            _handedOut.Add(token);
            _handedOut.Add(await _broker.TokenAsync(account.Name, apiKey)); // a hit
        }
        _world.Clock.Advance(SimulatorState.DefaultAccessLifetime);
        foreach (var (account, apiKey, _) in stored) _handedOut.Add(await _broker.TokenAsync(account.Name, apiKey)); // refreshes
        var rejected = await _world.AccountAsync(DialectNames.OAuth2Password);
        _world.Simulator.SetFault(Fault.RejectCredentials, rejected.Username);
        await TracedFetchAsync(rejected.Name, await KeyAsync(rejected.Name), expected: null);

        NoSecretExported(minimumSpans: 20);
    }

    [Fact]
    public async Task Metrics_endpoint_is_off_by_default_and_takes_the_admin_key()
    {
        (await _broker.GetAsync("/metrics", BrokerWorld.AdminKey)).StatusCode.ShouldBe(HttpStatusCode.NotFound);

        _world.Settings["Broker:Metrics:Prometheus:Enabled"] = "true";
        var enabled = await _world.AddBrokerAsync();
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        var key = await KeyAsync(account.Name);
        await enabled.TokenAsync(account.Name, key);

        (await enabled.GetAsync("/metrics", null)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await enabled.GetAsync("/metrics", key)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        var scrape = await enabled.GetAsync("/metrics", BrokerWorld.AdminKey);
        scrape.StatusCode.ShouldBe(HttpStatusCode.OK);
        scrape.Content.Headers.ContentType!.MediaType.ShouldBe("text/plain");
        var text = await scrape.Content.ReadAsStringAsync();
        text.ShouldContain("broker_tokens_served_total{");
        _handedOut.Where(secret => text.Contains(secret, StringComparison.Ordinal)).ShouldBeEmpty();

        _world.Settings["Broker:Metrics:Prometheus:AllowAnonymous"] = "true";
        var anonymous = await _world.AddBrokerAsync();
        (await anonymous.GetAsync("/metrics", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_metrics_key_reads_metrics_and_nothing_else()
    {
        _world.Settings["Broker:Metrics:Prometheus:Enabled"] = "true";
        var enabled = await _world.AddBrokerAsync();
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        await _world.AdminAsync(HttpMethod.Post, "/admin/clients", new { name = "scraper-granted", role = "metrics", accounts = new[] { account.Name } },
            HttpStatusCode.BadRequest);
        var created = await _world.AdminAsync(HttpMethod.Post, "/admin/clients", new { name = "scraper", role = "metrics" }, HttpStatusCode.Created);
        created["role"]!.GetValue<string>().ShouldBe("metrics");
        var key = created["api_key"]!.GetValue<string>();
        _handedOut.Add(key);

        (await enabled.GetAsync("/metrics", key)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await enabled.GetAsync($"/v1/accounts/{account.Name}/token", key)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await enabled.GetAsync("/admin/clients", key)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await enabled.GetAsync("/admin/audit", key)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await enabled.GetAsync("/metrics", BrokerWorld.AdminKey)).StatusCode.ShouldBe(HttpStatusCode.OK); // admins still may
    }

    [Fact]
    public async Task Dashboard_and_alert_rules_query_only_metrics_the_broker_exports()
    {
        _world.Settings["Broker:Metrics:Prometheus:Enabled"] = "true";
        var broker = await _world.AddBrokerAsync();
        var account = await _world.AccountAsync(DialectNames.Keycloak);
        var key = await KeyAsync(account.Name);
        await broker.TokenAsync(account.Name, key);
        _world.Clock.Advance(SimulatorState.DefaultAccessLifetime);
        await broker.TokenAsync(account.Name, key);
        await broker.Services.GetRequiredService<AccountStateCounts>().CountAsync(CancellationToken.None);
        var scrape = await (await broker.GetAsync("/metrics", BrokerWorld.AdminKey)).Content.ReadAsStringAsync();
        var exported = scrape.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => MetricName().Match(l).Value).ToHashSet(StringComparer.Ordinal);

        var dashboard = JsonNode.Parse(RepositoryFiles.Read("deploy/grafana/broker-dashboard.json"))!;
        var dashboardQueries = Expressions(dashboard).ToList();
        var alertQueries = AlertExpressions(RepositoryFiles.Read("deploy/prometheus/broker-alerts.yml")).ToList();

        dashboardQueries.Count.ShouldBeGreaterThan(8);
        alertQueries.Count.ShouldBeGreaterThanOrEqualTo(5);
        var used = dashboardQueries.Concat(alertQueries).SelectMany(MetricsIn).ToHashSet(StringComparer.Ordinal);
        used.ShouldContain("broker_tokens_served_total");
        used.Where(name => !exported.Contains(name)).ShouldBeEmpty("queried but not exported");
    }

    /// <summary>A token request in a trace of its own; returns the trace's id.</summary>
    private async Task<ActivityTraceId> TracedFetchAsync(string account, string apiKey, HttpStatusCode? expected)
    {
        HttpResponseMessage response;
        var trace = ActivityTraceId.CreateRandom();
        // The test's HttpClient sends the current activity's context as traceparent; the broker continues that trace.
        using (new Activity("test").SetParentId(trace, ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded).Start())
            response = await _broker.SendAsync(_broker.Request(HttpMethod.Get, $"/v1/accounts/{account}/token", apiKey));
        if (expected is { } status) response.StatusCode.ShouldBe(status);
        // The server span ends after the answer is sent, so the client can read the answer before it is exported.
        await _spans.FirstAsync(s => s.TraceId == trace && s.Kind == ActivityKind.Server && Tag(s, "http.route") is TokenRoute)
            .WaitAsync(TimeSpan.FromSeconds(60));
        if (response.IsSuccessStatusCode)
            _handedOut.Add(JsonNode.Parse(await response.Content.ReadAsStringAsync())!["access_token"]!.GetValue<string>());
        return trace;
    }

    private async Task<string> KeyAsync(string account)
    {
        var key = await _world.ConsumerAsync(account);
        _handedOut.Add(key);
        return key;
    }

    private const string TokenRoute = "/v1/accounts/{account}/token/";

    private List<Activity> SpansOf(ActivityTraceId trace) => _spans.Snapshot().Where(s => s.TraceId == trace).ToList();

    /// <summary>The fetch span, a child of the request's server span.</summary>
    private Activity FetchSpan(ActivityTraceId trace)
    {
        var spans = SpansOf(trace);
        var fetch = spans.Where(s => s.DisplayName == "broker.token.fetch").ShouldHaveSingleItem();
        // (The simulator's server spans are in the trace too: it runs in this process.)
        var server = spans.Single(s => s.SpanId == fetch.ParentSpanId);
        server.Kind.ShouldBe(ActivityKind.Server);
        Tag(server, "http.route").ShouldBe(TokenRoute);
        spans.ShouldContain(s => s.DisplayName == "broker.lock.wait" && s.ParentSpanId == fetch.SpanId);
        spans.ShouldContain(s => s.Source.Name == "Npgsql" && s.ParentSpanId == fetch.SpanId);
        return fetch;
    }

    /// <summary>The one upstream call of the trace, a child of its fetch span.</summary>
    private Activity UpstreamSpan(ActivityTraceId trace, string kind)
    {
        var fetch = FetchSpan(trace);
        var call = SpansOf(trace).Where(s => s.DisplayName.StartsWith("broker.upstream.", StringComparison.Ordinal)).ShouldHaveSingleItem();
        call.DisplayName.ShouldBe($"broker.upstream.{kind}");
        call.ParentSpanId.ShouldBe(fetch.SpanId);
        Tag(call, "broker.upstream.kind").ShouldBe(kind);
        return call;
    }

    private static object? Tag(Activity span, string name) => span.GetTagItem(name);

    /// <summary>Every exported span and metric point, scanned for every secret, token and key of this test.</summary>
    private void NoSecretExported(int minimumSpans = 1)
    {
        _broker.Services.GetRequiredService<TracerProvider>().ForceFlush();
        _broker.Services.GetRequiredService<MeterProvider>().ForceFlush();
        var spans = _spans.Snapshot();
        var metrics = _metrics.Snapshot();
        spans.Count.ShouldBeGreaterThanOrEqualTo(minimumSpans);
        metrics.ShouldContain(m => m.MeterName == BrokerMetrics.MeterName);

        // Secrets reach the database encrypted or hashed, so the scan below cannot see a recorded parameter value:
        // the SQL is recorded with placeholders, and no parameter attribute at all.
        var commands = spans.Where(s => s.Source.Name == "Npgsql").ToList();
        commands.ShouldContain(s => (s.GetTagItem("db.query.text") as string ?? "").Contains("$1", StringComparison.Ordinal));
        commands.SelectMany(s => s.TagObjects).ShouldNotContain(t => t.Key.StartsWith("db.query.parameter", StringComparison.Ordinal));

        var texts = new List<string>();
        foreach (var span in spans)
        {
            texts.Add(span.DisplayName);
            texts.Add(span.StatusDescription ?? "");
            texts.AddRange(span.TagObjects.Select(t => $"{t.Key}={t.Value}"));
            texts.AddRange(span.Events.SelectMany(e => e.Tags.Select(t => $"{e.Name} {t.Key}={t.Value}")));
            texts.AddRange(span.Baggage.Select(b => $"{b.Key}={b.Value}"));
        }
        foreach (var metric in metrics)
            foreach (var point in metric.MetricPoints)
                foreach (var tag in point.Tags)
                    texts.Add($"{metric.Name} {tag.Key}={tag.Value}");

        var secrets = _world.Secrets.Concat(_handedOut).Where(s => s.Length >= 8).Distinct().ToList();
        secrets.Where(secret => texts.Any(t => t.Contains(secret, StringComparison.Ordinal))).ShouldBeEmpty();
    }

    /// <summary>Every "expr" of a Grafana dashboard, at any depth (panels, rows, targets).</summary>
    private static IEnumerable<string> Expressions(JsonNode? node) => node switch
    {
        JsonObject o => o.SelectMany(p => p.Key == "expr" && p.Value is JsonValue v ? [v.GetValue<string>()] : Expressions(p.Value)),
        JsonArray a => a.SelectMany(Expressions),
        _ => [],
    };

    /// <summary>The <c>expr:</c> of each Prometheus rule: on its line, or a block (<c>|</c>, <c>&gt;</c>) indented below it.</summary>
    private static IEnumerable<string> AlertExpressions(string yaml)
    {
        var lines = yaml.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var trimmed = lines[i].TrimStart();
            if (!trimmed.StartsWith("expr:", StringComparison.Ordinal)) continue;
            var value = trimmed["expr:".Length..].Trim();
            if (value is not ("|" or ">" or "|-" or ">-"))
            {
                yield return value.Trim('\'', '"');
                continue;
            }
            var indent = lines[i].Length - trimmed.Length;
            var block = lines.Skip(i + 1).TakeWhile(l => l.Trim().Length == 0 || l.Length - l.TrimStart().Length > indent);
            yield return string.Join(' ', block.Select(l => l.Trim()));
        }
    }

    private static readonly HashSet<string> PromQlWords = new(StringComparer.Ordinal)
    {
        "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan",
    };

    /// <summary>The metric names a PromQL expression selects: identifiers outside label matchers, ranges, strings,
    /// grouping clauses, and not called as functions.</summary>
    private static IEnumerable<string> MetricsIn(string expression)
    {
        var bare = Regex.Replace(expression, "\"[^\"]*\"", "");
        bare = Regex.Replace(bare, @"\{[^}]*\}|\[[^\]]*\]", " ");
        bare = Regex.Replace(bare, @"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ");
        return Regex.Matches(bare, @"(?<![\w$.])(?>[a-zA-Z_:][a-zA-Z0-9_:]*)(?!\s*\()")
            .Select(m => m.Value).Where(w => !PromQlWords.Contains(w.ToLowerInvariant()));
    }

    [GeneratedRegex(@"^[a-zA-Z_:][a-zA-Z0-9_:]*")]
    private static partial Regex MetricName();

    /// <summary>What an in-memory exporter appends to, readable while spans of other work keep arriving.</summary>
    private sealed class Exported<T> : ICollection<T>
    {
        private readonly List<T> _items = [];
        private readonly List<(Func<T, bool> Match, TaskCompletionSource<T> Found)> _waiters = [];
        private readonly Lock _gate = new();

        public List<T> Snapshot() { lock (_gate) return [.. _items]; }

        /// <summary>The first item that matches, already exported or when it is.</summary>
        public Task<T> FirstAsync(Func<T, bool> match)
        {
            lock (_gate)
            {
                foreach (var item in _items)
                    if (match(item)) return Task.FromResult(item);
                var found = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiters.Add((match, found));
                return found.Task;
            }
        }

        public void Add(T item)
        {
            lock (_gate)
            {
                _items.Add(item);
                foreach (var waiter in _waiters.Where(w => w.Match(item)).ToList())
                {
                    waiter.Found.TrySetResult(item);
                    _waiters.Remove(waiter);
                }
            }
        }
        public void Clear() { lock (_gate) _items.Clear(); }
        public bool Contains(T item) { lock (_gate) return _items.Contains(item); }
        public void CopyTo(T[] array, int arrayIndex) { lock (_gate) _items.CopyTo(array, arrayIndex); }
        public bool Remove(T item) { lock (_gate) return _items.Remove(item); }
        public int Count { get { lock (_gate) return _items.Count; } }
        public bool IsReadOnly => false;
        public IEnumerator<T> GetEnumerator() => Snapshot().GetEnumerator();
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
