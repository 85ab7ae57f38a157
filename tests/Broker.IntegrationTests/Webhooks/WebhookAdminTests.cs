using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Webhooks;

/// <summary>The webhooks admin API: where webhooks may point, which events exist, and a secret that is never shown again.</summary>
public sealed class WebhookAdminTests(WebhookAdminTests.AsDeployed shared) : IClassFixture<WebhookAdminTests.AsDeployed>
{
    /// <summary>As deployed: no loopback or private networks, no plain http (the simulator is not used here).</summary>
    public sealed class AsDeployed : SharedWorld
    {
        protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
        {
            ["Broker:Upstream:AllowedNetworks:0"] = null,
            ["Broker:Upstream:AllowedNetworks:1"] = null,
        };
    }

    private readonly BrokerWorld _world = shared.World;

    [Theory]
    [InlineData("https://127.0.0.1/hook", "loopback")]
    [InlineData("https://localhost:8443/hook", "loopback")]
    [InlineData("https://10.1.2.3/hook", "private")]
    [InlineData("https://169.254.169.254/latest/meta-data", "link-local")]
    [InlineData("https://[::1]/hook", "loopback")]
    [InlineData("http://hooks.example.com/hook", "must be https")]
    [InlineData("ftp://hooks.example.com/hook", "absolute http or https URL")]
    public async Task Urls_the_broker_may_not_call_are_refused(string url, string why)
    {
        var before = (await _world.AdminAsync(HttpMethod.Get, "/admin/webhooks"))["items"]!.AsArray().Count;
        var problem = await _world.AdminAsync(HttpMethod.Post, "/admin/webhooks",
            new { url, events = new[] { WebhookEvents.NeedsAttention } }, HttpStatusCode.BadRequest);
        problem["errors"]!["url"]![0]!.GetValue<string>().ShouldContain(why);
        (await _world.AdminAsync(HttpMethod.Get, "/admin/webhooks"))["items"]!.AsArray().Count.ShouldBe(before);
    }

    [Fact]
    public async Task Unknown_events_are_refused_with_the_list_of_events()
    {
        var problem = await _world.AdminAsync(HttpMethod.Post, "/admin/webhooks",
            new { url = "https://hooks.example.com/a", events = new[] { WebhookEvents.Inactive, "account.exploded" } }, HttpStatusCode.BadRequest);
        var message = problem["errors"]!["events"]![0]!.GetValue<string>();
        message.ShouldContain("account.exploded");
        foreach (var known in WebhookEvents.All) message.ShouldContain(known);

        (await _world.AdminAsync(HttpMethod.Post, "/admin/webhooks", new { url = "https://hooks.example.com/a" }, HttpStatusCode.BadRequest))
            ["errors"]!["events"].ShouldNotBeNull();
    }

    [Fact]
    public async Task The_secret_is_shown_only_when_the_broker_made_it_and_only_once()
    {
        const string given = "an-admins-own-secret-0123456789";
        _world.Secrets.Add(given);
        var withGiven = await _world.AdminAsync(HttpMethod.Post, "/admin/webhooks",
            new { url = "https://hooks.example.com/a", secret = given, events = new[] { WebhookEvents.NeedsAttention }, description = "on call" },
            HttpStatusCode.Created);
        withGiven.ContainsKey("secret").ShouldBeFalse();

        var made = await _world.AdminAsync(HttpMethod.Post, "/admin/webhooks",
            new { url = "https://hooks.example.com/b", events = WebhookEvents.All }, HttpStatusCode.Created);
        var secret = made["secret"]!.GetValue<string>();
        secret.ShouldStartWith("whsec_");
        var id = made["id"]!.GetValue<string>();

        var patched = await _world.AdminAsync(HttpMethod.Patch, $"/admin/webhooks/{id}",
            new { secret = "a-rotated-secret-0123456789", events = new[] { WebhookEvents.Recovered } });
        _world.Secrets.Add("a-rotated-secret-0123456789");
        patched["events"]!.AsArray().Select(e => e!.GetValue<string>()).ShouldBe([WebhookEvents.Recovered]);

        var reads = new[]
        {
            (await _world.AdminAsync(HttpMethod.Get, "/admin/webhooks")).ToJsonString(),
            (await _world.AdminAsync(HttpMethod.Get, $"/admin/webhooks/{id}")).ToJsonString(),
            (await _world.AdminAsync(HttpMethod.Get, $"/admin/webhooks/{withGiven["id"]!.GetValue<string>()}")).ToJsonString(),
            (await _world.AdminAsync(HttpMethod.Get, $"/admin/webhooks/{id}/deliveries")).ToJsonString(),
            (await _world.AdminAsync(HttpMethod.Get, "/admin/audit?action=webhook.created")).ToJsonString(),
            (await _world.AdminAsync(HttpMethod.Get, "/admin/audit?action=webhook.updated")).ToJsonString(),
        };
        foreach (var read in reads)
        {
            read.ShouldNotContain(secret);
            read.ShouldNotContain("\"secret\"");
        }
        reads[0].ShouldContain("hooks.example.com/a");
        reads[4].ShouldContain("hooks.example.com"); // the audit names the host

        await _world.AdminAsync(HttpMethod.Delete, $"/admin/webhooks/{id}", expect: HttpStatusCode.NoContent);
        await _world.AdminAsync(HttpMethod.Get, $"/admin/webhooks/{id}", expect: HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Unknown_fields_and_short_secrets_are_refused()
    {
        var problem = await _world.AdminAsync(HttpMethod.Post, "/admin/webhooks",
            new { url = "https://hooks.example.com/a", events = new[] { WebhookEvents.Inactive }, secrett = "x" }, HttpStatusCode.BadRequest);
        problem.ToJsonString().ShouldContain("secrett");
        (await _world.AdminAsync(HttpMethod.Post, "/admin/webhooks",
            new { url = "https://hooks.example.com/a", events = new[] { WebhookEvents.Inactive }, secret = "short" }, HttpStatusCode.BadRequest))
            ["errors"]!["secret"].ShouldNotBeNull();
    }
}
