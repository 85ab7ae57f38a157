using System.Net;
using System.Text.RegularExpressions;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Admin;

/// <summary>The headers a security review looks for, and Swagger served in Production only when configured.</summary>
public sealed partial class SecurityHeadersTests(SharedWorld shared) : IClassFixture<SharedWorld>
{
    private readonly BrokerWorld _world = shared.World;

    [Theory]
    [InlineData("/v1/accounts/x/token")]
    [InlineData("/admin/accounts")]
    [InlineData("/health/ready")]
    [InlineData("/no-such-path")]
    public async Task Every_api_response_forbids_sniffing_framing_and_referrers(string path)
    {
        using var response = await _world.Broker.GetAsync(path, null);

        Header(response, "X-Content-Type-Options").ShouldBe("nosniff");
        Header(response, "X-Frame-Options").ShouldBe("DENY");
        Header(response, "Referrer-Policy").ShouldBe("no-referrer");
        var csp = Header(response, "Content-Security-Policy");
        csp.ShouldContain("default-src 'none'");
        csp.ShouldContain("frame-ancestors 'none'");
        response.Headers.Contains("Server").ShouldBeFalse();
    }

    [Fact]
    public async Task The_swagger_page_may_run_only_its_own_scripts_and_has_no_inline_script()
    {
        using var response = await _world.Broker.GetAsync("/swagger/index.html", null);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var csp = Header(response, "Content-Security-Policy");

        csp.ShouldContain("script-src 'self'");
        csp.ShouldNotContain("unsafe-eval");
        csp.ShouldContain("frame-ancestors 'none'");
        Header(response, "X-Frame-Options").ShouldBe("DENY");
        // Every script the page has is loaded from a file: the policy allows no inline script.
        var html = await response.Content.ReadAsStringAsync();
        ScriptTag().Matches(html).ShouldNotBeEmpty();
        ScriptTag().Matches(html).ShouldAllBe(tag => tag.Value.Contains("src=", StringComparison.Ordinal));
    }

    [Fact]
    public async Task In_production_swagger_and_the_openapi_document_are_served_only_when_configured()
    {
        await using var world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?> { ["Broker:Swagger:Enabled"] = null });

        foreach (var path in new[] { "/swagger", "/swagger/index.html", "/swagger/v1/swagger.json" })
        {
            using var response = await world.Broker.GetAsync(path, BrokerWorld.AdminKey);
            response.StatusCode.ShouldBe(HttpStatusCode.NotFound, path);
        }
        using var enabled = await _world.Broker.GetAsync("/swagger/v1/swagger.json", null);
        enabled.StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values)
            ? string.Join(", ", values)
            : throw new ShouldAssertException($"{name} is missing from {response.RequestMessage?.RequestUri}");

    [GeneratedRegex("<script[^>]*>", RegexOptions.IgnoreCase)]
    private static partial Regex ScriptTag();
}
