using System.Text;
using Broker.Domain;
using Broker.IntegrationTests.Support;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Reliability;

/// <summary>
/// Thousands of generated malformed requests across every endpoint the broker maps: none may cause a 5xx,
/// and none may change a provider, account or client.
/// </summary>
public sealed class BadInputFuzzTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
    {
        ["Broker:RateLimits:PerSecond"] = "1000000",
        ["Broker:RateLimits:Burst"] = "1000000",
    });

    public async Task DisposeAsync() => await _world.DisposeAsync();

    private static readonly string[] OddNames =
    [
        "..", "../../etc/passwd", "%2e%2e%2fadmin", "a%00b", "%00", new string('a', 5000), "名前", "emoji-😀", "' OR 1=1 --",
        "<script>alert(1)</script>", "%20", "a b", "a/b", "%2F", "\\windows", "CON", "-leading", ".hidden", "%ff%fe", "${jndi:x}",
    ];

    private static readonly string[] OddQueries =
    [
        "?min_validity=-1", "?min_validity=abc", "?min_validity=1e9", "?min_validity=99999999999999999999", "?min_validity=1&min_validity=2",
        "?min_validity=", "?limit=-5", "?from=yesterday", "?cursor=%%%", "?" + new string('x', 6000) + "=1", "?a=1&a=2&a=3",
    ];

    private static readonly Func<HttpContent>[] OddBodies =
    [
        () => Json("{"),
        () => Json("[]"),
        () => Json("null"),
        () => Json("\"just a string\""),
        () => Json("{\"name\": 123, \"dialect\": []}"),
        () => Json("{\"name\": \"../x\", \"unknown_field\": true}"),
        () => Json("{\"name\": \"" + new string('n', 300) + "\"}"),
        () => Json(new string('[', 5000) + new string(']', 5000)),
        () => Json("{\"name\": \"x\", \"name\": \"y\", \"provider\": {\"nested\": [1,2,3]}}"),
        () => Json("{\"name\":\"\\u0000\"}"),
        () => Json("{\"name\": \"" + new string('z', 100_000) + "\"}"), // over the body size limit
        () => new StringContent("name=x&dialect=y", Encoding.UTF8, "application/x-www-form-urlencoded"),
        () => new StringContent("<provider><name>x</name></provider>", Encoding.UTF8, "application/xml"),
        () => new StringContent("{\"name\":\"x\"}", Encoding.UTF8, "text/plain"),
        () => new ByteArrayContent([0xff, 0xfe, 0x00, 0x01, 0xc3, 0x28]) { Headers = { { "Content-Type", "application/json" } } },
    ];

    [Fact]
    public async Task Thousands_of_malformed_requests_get_4xx_problems_and_change_nothing()
    {
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        var consumer = await _world.ConsumerAsync(account.Name);
        await _world.Broker.TokenAsync(account.Name, consumer);
        var before = await DumpStateAsync();

        var endpoints = _world.Broker.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? ["GET"])
                .Select(method => (Method: method, Pattern: e.RoutePattern.RawText ?? "")))
            .Where(e => !e.Pattern.StartsWith("/swagger", StringComparison.Ordinal))
            .Distinct()
            .ToList();
        endpoints.Count.ShouldBeGreaterThan(5);

        var random = new Random(20261121);
        var keys = new string?[] { null, "junk", BrokerWorld.AdminKey, consumer, "Bearer " + new string('k', 600) };
        var sent = 0;
        var failures = new List<string>();
        var statuses = new List<int>();
        while (sent < 2400)
        {
            var (method, pattern) = endpoints[random.Next(endpoints.Count)];
            var path = FillRoute(pattern, random) + (random.Next(3) == 0 ? OddQueries[random.Next(OddQueries.Length)] : "");
            var key = keys[random.Next(keys.Length)];
            var body = method is "POST" or "PUT" or "PATCH" || random.Next(10) == 0 ? OddBodies[random.Next(OddBodies.Length)] : null;
            var longHeader = random.Next(25) == 0;
            var csv = random.Next(30) == 0;
            HttpRequestMessage Build()
            {
                var request = _world.Broker.Request(new HttpMethod(method), path, key);
                request.Content = body?.Invoke();
                if (longHeader) request.Headers.TryAddWithoutValidation("X-Long", new string('h', 40_000));
                if (csv) request.Headers.TryAddWithoutValidation("Accept", "text/csv, */*;q=0.1");
                return request;
            }
            using var request = Build();
            var oversized = longHeader || request.Content?.Headers.ContentLength > 64 * 1024;
            sent++;
            try
            {
                using var response = await _world.Broker.SendAsync(request);
                statuses.Add((int)response.StatusCode);
                if (method != "GET" && response.IsSuccessStatusCode)
                    failures.Add($"{method} {Shorten(path)} -> {(int)response.StatusCode}: a malformed change was accepted");
                if ((int)response.StatusCode >= 500) failures.Add($"{method} {Shorten(path)} -> {(int)response.StatusCode} {Shorten(await response.Content.ReadAsStringAsync())}");
            }
            catch (HttpRequestException e) when (!oversized)
            {
                // The refusal of an oversized request just before may have closed the pooled connection this one was
                // sent on: sent again on a connection of its own, it must be answered.
                using var alone = new HttpClient { BaseAddress = _world.Broker.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
                using var again = Build();
                try
                {
                    using var response = await alone.SendAsync(again);
                    statuses.Add((int)response.StatusCode);
                    if ((int)response.StatusCode >= 500) failures.Add($"{method} {Shorten(path)} -> {(int)response.StatusCode}");
                }
                catch (HttpRequestException unanswered)
                {
                    failures.Add($"{method} {Shorten(path)} -> no answer ({e.InnerException?.Message}), and none alone: {unanswered.InnerException?.Message ?? unanswered.Message}");
                }
            }
            catch (HttpRequestException)
            {
                // Kestrel may close the connection after refusing an oversized request: its 431 or 413 may not be read.
            }
        }

        failures.ShouldBeEmpty();
        statuses.Count.ShouldBeGreaterThan(2000);
        statuses.ShouldContain(400);
        statuses.ShouldContain(401);
        statuses.ShouldContain(404);
        (await DumpStateAsync()).ShouldBe(before);
        (await _world.Broker.TokenAsync(account.Name, consumer)).ShouldNotBeNullOrEmpty(); // and it still works
    }

    private static string FillRoute(string pattern, Random random)
    {
        var builder = new StringBuilder();
        foreach (var segment in pattern.Split('/'))
        {
            if (segment.Length == 0) continue;
            builder.Append('/');
            builder.Append(segment.StartsWith('{') ? Uri.EscapeDataString(OddNames[random.Next(OddNames.Length)]).Replace("%25", "%") : segment);
        }
        return builder.Length == 0 ? "/" : builder.ToString();
    }

    private static StringContent Json(string text) => new(text, Encoding.UTF8, "application/json");

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "…";

    /// <summary>Everything but the audit trail (which records the refusals) and the key ring.</summary>
    private async Task<string> DumpStateAsync()
    {
        var dump = new StringBuilder();
        foreach (var table in new[] { "providers", "accounts", "clients", "client_grants" })
            foreach (var row in await _world.ColumnAsync<string>($"SELECT t::text FROM {table} t ORDER BY t::text"))
                dump.AppendLine(row);
        return dump.ToString();
    }
}
