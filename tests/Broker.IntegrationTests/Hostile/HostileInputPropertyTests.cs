using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Persistence;
using Broker.IntegrationTests.Support;
using Broker.UnitTests.Support;
using CsCheck;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace Broker.IntegrationTests.Hostile;

/// <summary>
/// Generated hostile text (broken UTF-16, invisible and reordering characters, NUL, lengths at every limit) in
/// route values, query values, headers and every JSON field of every endpoint, with and without valid keys: the
/// broker answers no 5xx, keeps running, and writes every audit event it queued.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class HostileInputPropertyTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Cases = 20_000;
    private const ulong Seed = 0x5AFE_7E47;

    // Every length limit the code has, and the request size limits of BrokerApp.cs (32 KiB of headers, 64 KiB of body).
    private static readonly int[] TextLimits =
        [Limits.Name, Limits.Identifier, Limits.Detail, Limits.Scope, Limits.Url, Limits.Secret, 200 /* UpstreamText.MaxLength */, 100];

    private static readonly string[] QueryNames =
        ["min_validity", "from", "to", "client", "account", "action", "token_hmac", "limit", "cursor", "group_by"];

    private static readonly string[] TrailActions =
        [AuditActions.TokenServed, AuditActions.TokenFailed, AuditActions.TokenRejected, AuditActions.AuthFailed,
         AuditActions.AuthForbidden, AuditActions.RequestRateLimited, AuditActions.RequestFailed];

    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
    {
        ["Broker:RateLimits:PerSecond"] = "10000000",
        ["Broker:RateLimits:Burst"] = "10000000",
    });

    public async Task DisposeAsync() => await _world.DisposeAsync();

    private static Gen<string> Hostile { get; } = Gen.Frequency(
        (3, HostileText.Strings(12)),
        (3, Gen.Select(Gen.OneOf(TextLimits), Gen.Int[-3, 3], Gen.OneOf(HostileText.Atoms), Gen.Int[-3, 3])
            .Select((limit, length, hazard, at) => HostileText.At(limit + at, hazard, limit + length))),
        (1, Gen.OneOf(HostileText.Atoms)));

    private sealed record Case(int Endpoint, string[] RouteValues, (string Name, string Value)[] Query, string? Key, string Header,
        bool HugeHeader, string[] Fields, bool HugeBody);

    [Fact]
    public async Task Hostile_text_anywhere_gets_no_5xx_and_every_queued_audit_event_is_written()
    {
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        var consumer = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, consumer);

        var endpoints = Endpoints();
        endpoints.Count.ShouldBeGreaterThan(10);
        var keys = new[] { null, BrokerWorld.AdminKey, consumer, "junk" };
        var gen = Gen.Select(Gen.Int[0, endpoints.Count - 1], Hostile.Array[3], Gen.Select(Gen.OneOf(QueryNames), Hostile).Array[0, 3],
                Gen.Int[0, keys.Length], Hostile, Gen.Int[0, 200], Hostile.Array[12], Gen.Int[0, 200])
            .Select((endpoint, routeValues, query, key, header, hugeHeader, fields, hugeBody) =>
                new Case(endpoint, routeValues, query, key == keys.Length ? "Bearer " + "x" : keys[key], header, hugeHeader == 0, fields, hugeBody == 0));
        output.WriteLine($"seed 0x{Seed:X}, {Cases} cases over {endpoints.Count} endpoints");
        var pcg = new CsCheck.PCG((uint)(Seed >> 32), Seed);
        var cases = Enumerable.Range(0, Cases).Select(_ => gen.Generate(pcg, null!, out CsCheck.Size _)).ToList();

        var services = _world.Broker.Services;
        var queue = services.GetRequiredService<AuditQueue>();
        var writer = services.GetServices<IHostedService>().OfType<AuditWriter>().Single();
        var lastId = await _world.ScalarAsync<long>("SELECT coalesce(max(id), 0) FROM audit_events");
        var enqueuedBefore = queue.Enqueued;

        using var http = new HttpClient(new SocketsHttpHandler
        {
            // Non-ASCII header values go out as UTF-8 (lone surrogates as U+FFFD): the broker must take any bytes.
            RequestHeaderEncodingSelector = (_, _) => Encoding.UTF8,
            MaxConnectionsPerServer = 8,
        }) { BaseAddress = _world.Broker.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var answered = 0;
        var watch = Stopwatch.StartNew();
        await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (c, ct) =>
        {
            var (method, pattern, bodyFields) = endpoints[c.Endpoint];
            HttpRequestMessage Build()
            {
                var request = new HttpRequestMessage(new HttpMethod(method), Path(pattern, c.RouteValues) + Query(c.Query));
                if (c.Key is not null) request.Headers.TryAddWithoutValidation("Authorization", c.Key.StartsWith("Bearer", StringComparison.Ordinal) ? HeaderSafe(c.Key + c.Header) : "Bearer " + c.Key);
                request.Headers.TryAddWithoutValidation("X-Hostile", c.HugeHeader ? new string('h', 32 * 1024 + c.Header.Length % 7 - 3) : HeaderSafe(c.Header));
                request.Headers.TryAddWithoutValidation("Accept", HeaderSafe(c.Header));
                if (bodyFields is not null)
                    request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(Body(bodyFields, c.Fields, c.HugeBody))) { Headers = { { "Content-Type", "application/json" } } };
                return request;
            }
            using var request = Build();
            try
            {
                using var response = await http.SendAsync(request, ct);
                Interlocked.Increment(ref answered);
                if ((int)response.StatusCode >= 500)
                    failures.Enqueue($"{method} {pattern} -> {(int)response.StatusCode} {Shorten(await response.Content.ReadAsStringAsync(ct))}");
            }
            catch (HttpRequestException e)
            {
                // Kestrel may close the connection after refusing an oversized request (its 431 or 413 may not be
                // read), and a pooled connection may have been closed by such a refusal just before. Any other request
                // must be answered: sent again on a connection of its own, one that still gets no answer is a finding.
                if (c.HugeHeader || c.HugeBody) return;
                using var alone = new HttpClient(new SocketsHttpHandler { RequestHeaderEncodingSelector = (_, _) => Encoding.UTF8 })
                    { BaseAddress = _world.Broker.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
                using var again = Build();
                try
                {
                    using var response = await alone.SendAsync(again, ct);
                    Interlocked.Increment(ref answered);
                    if ((int)response.StatusCode >= 500) failures.Enqueue($"{method} {pattern} -> {(int)response.StatusCode}");
                }
                catch (HttpRequestException unanswered)
                {
                    failures.Enqueue($"{method} {pattern} -> no answer ({e.InnerException?.Message}), and none alone: {unanswered.InnerException?.Message ?? unanswered.Message}");
                }
            }
        });
        output.WriteLine($"{answered} answered in {watch.Elapsed.TotalSeconds:0.0} s");

        foreach (var line in _world.Logs.Lines.Where(l => l.Contains("Unhandled exception", StringComparison.Ordinal)).Take(2))
            output.WriteLine(Shorten(line[..Math.Min(line.Length, 3000)]));
        failures.ShouldBeEmpty();
        answered.ShouldBeGreaterThan(Cases * 9 / 10);
        services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.IsCancellationRequested.ShouldBeFalse();
        writer.ExecuteTask!.IsCompleted.ShouldBeFalse();

        // Every event queued is a row: wait for the writer to drain the queue and finish its last batch.
        var queued = queue.Enqueued - enqueuedBefore;
        long written = 0;
        await Poll.UntilAsync(async () =>
            (written = await _world.ScalarAsync<long>("SELECT count(*) FROM audit_events WHERE id > $1 AND action = ANY($2)", lastId, TrailActions)) >= queued &&
            queue.Depth == 0, what: "the audit writer's drain");
        output.WriteLine($"{queued} events queued, {written} written");
        queue.Dropped.ShouldBe(0);
        written.ShouldBe(queued);
        writer.Rejected.ShouldBe(0);
        (await _world.ScalarAsync<long>("SELECT count(*) FROM audit_events WHERE action IN ('audit.overflow', 'audit.rejected')")).ShouldBe(0);
        (await _world.Broker.TokenAsync(account.Name, consumer)).ShouldNotBeNullOrEmpty();
    }

    /// <summary>Every mapped endpoint with, when it reads a JSON body, the body's field names and whether each is a list.</summary>
    private List<(string Method, string Pattern, (string Name, bool IsList)[]? Body)> Endpoints() =>
        _world.Broker.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => !(e.RoutePattern.RawText ?? "").StartsWith("/swagger", StringComparison.Ordinal))
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(method =>
                (method, e.RoutePattern.RawText ?? "/", BodyFields(e.Metadata.GetMetadata<IAcceptsMetadata>()?.RequestType))))
            .ToList();

    private static (string Name, bool IsList)[]? BodyFields(Type? type) =>
        type?.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => (JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name),
                p.PropertyType != typeof(string) && typeof(System.Collections.IEnumerable).IsAssignableFrom(p.PropertyType)))
            .ToArray();

    private static string Path(string pattern, string[] values)
    {
        var path = new StringBuilder();
        var next = 0;
        foreach (var segment in pattern.Split('/', StringSplitOptions.RemoveEmptyEntries))
            path.Append('/').Append(segment.StartsWith('{') ? Escape(values[next++ % values.Length]) : segment);
        return path.Length == 0 ? "/" : path.ToString();
    }

    private static string Query((string Name, string Value)[] query) =>
        query.Length == 0 ? "" : "?" + string.Join("&", query.Select(q => q.Name + "=" + Escape(q.Value)));

    /// <summary>Percent-encodes UTF-8, with a lone surrogate sent as the bytes a careless encoder would produce.</summary>
    private static string Escape(string value)
    {
        var escaped = new StringBuilder();
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~') escaped.Append(c);
            else if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
                foreach (var b in Encoding.UTF8.GetBytes(value.Substring(i++, 2))) escaped.Append('%').Append(b.ToString("X2"));
            else if (char.IsSurrogate(c))
                escaped.Append("%ED%").Append(((c >> 6 & 0x3F) | 0x80).ToString("X2")).Append('%').Append(((c & 0x3F) | 0x80).ToString("X2"));
            else
                foreach (var b in Encoding.UTF8.GetBytes(c.ToString())) escaped.Append('%').Append(b.ToString("X2"));
        }
        return escaped.ToString();
    }

    /// <summary>A JSON object of every field as hostile text, written by hand: lone surrogates go out as \u escapes.</summary>
    private static string Body((string Name, bool IsList)[] fields, string[] values, bool huge)
    {
        var json = new StringBuilder("{");
        for (var i = 0; i < fields.Length; i++)
        {
            if (i > 0) json.Append(',');
            var value = Json(huge && i == 0 ? new string('z', 64 * 1024 + values[0].Length % 5 - 2) : values[i % values.Length]);
            json.Append(Json(fields[i].Name)).Append(':').Append(fields[i].IsList ? $"[{value},{value}]" : value);
        }
        return json.Append('}').ToString();
    }

    private static string Json(string text)
    {
        var json = new StringBuilder("\"");
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c is '"' or '\\') json.Append('\\').Append(c);
            else if (c < ' ' || (char.IsSurrogate(c) && !(char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))))
                json.Append($"\\u{(int)c:x4}");
            else if (char.IsHighSurrogate(c)) json.Append(c).Append(text[++i]);
            else json.Append(c);
        }
        return json.Append('"').ToString();
    }

    // HttpClient refuses line breaks and NUL in a header value (it would be request splitting); the rest goes out.
    private static string HeaderSafe(string value) =>
        new(value.Select(c => c is '\r' or '\n' or '\0' ? '_' : c).ToArray());

    private static string Shorten(string text) => text.Length <= 2000 ? text : text[..2000] + "…";
}
