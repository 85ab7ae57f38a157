using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Broker.Domain;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Reliability;

/// <summary>
/// The cached fetch's allocations, counted by the broker's own runtime metrics in a process of its own: allocations are
/// deterministic where times are not, so this guards the hot path on any machine, busy or quiet.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed partial class AllocationBudgetTests : IAsyncLifetime
{
    /// <summary>
    /// Bytes one cached fetch may allocate in the broker, across the whole request (Kestrel, the pipeline, the token
    /// path, the JSON answer). Measured at <see cref="Measured"/> (2026-12-03, 1,715; 7,400 before the broker's own authentication replaced ASP.NET Core's handler and policies, requests lost their hosting log scope and Activity, and the token endpoints their filters); the budget leaves room for the
    /// runtime's own variation and for the background loops that run meanwhile, not for a new allocation per request
    /// of any size.
    /// </summary>
    private const long Budget = 2_100;
    private const long Measured = 1_715;

    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task A_cached_fetch_allocates_within_its_budget()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ConsumerAsync(account.Name);
        var settings = new Dictionary<string, string?>(_world.Settings)
        {
            ["Broker:Metrics:Prometheus:Enabled"] = "true",
            ["Broker:Metrics:Prometheus:AllowAnonymous"] = "true",
        };
        await using var broker = await BrokerProcess.StartAsync(settings);
        broker.Http.DefaultRequestHeaders.Authorization = new("Bearer", key);
        async Task FetchAsync(int times)
        {
            for (var i = 0; i < times; i++)
            {
                using var response = await broker.Http.GetAsync($"/v1/accounts/{account.Name}/token");
                response.StatusCode.ShouldBe(HttpStatusCode.OK);
            }
        }

        await FetchAsync(3000); // past tiered compilation's first tiers: its own allocations are not the request's
        var first = await AllocatedAsync(broker);
        var second = await AllocatedAsync(broker);
        var scrape = second - first;
        const int Fetches = 2000;
        await FetchAsync(Fetches);
        var after = await AllocatedAsync(broker);

        var perFetch = (after - second - scrape) / Fetches;
        perFetch.ShouldBeGreaterThan(0, "the runtime metric counts allocations");
        perFetch.ShouldBeLessThanOrEqualTo(Budget, $"a cached fetch allocated {perFetch} bytes (budget {Budget}, measured {Measured} when set)");
    }

    private static async Task<long> AllocatedAsync(BrokerProcess broker)
    {
        var text = await broker.Http.GetStringAsync("/metrics");
        var match = AllocatedBytes().Match(text);
        match.Success.ShouldBeTrue("/metrics has dotnet_gc_heap_total_allocated_bytes");
        return (long)double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^dotnet_gc_heap_total_allocated_bytes(?:_total)?(?:\{[^}]*\})? ([0-9.eE+]+)", RegexOptions.Multiline)]
    private static partial Regex AllocatedBytes();
}
