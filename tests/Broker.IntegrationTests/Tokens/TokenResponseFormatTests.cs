using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Tokens;

/// <summary>
/// expires_at reads the same whatever set it: an upstream's expires_in counted from a clock between seconds, or
/// a JWT's exp in whole seconds. Whole seconds in UTC, never later than the true expiry.
/// </summary>
public sealed partial class TokenResponseFormatTests(SharedWorld shared) : IClassFixture<SharedWorld>
{
    private readonly BrokerWorld _world = shared.World;

    [Theory]
    [InlineData("oauth2-password")] // expires_in
    [InlineData("sliderule")] // the JWT's exp
    [InlineData("keycloak")]
    public async Task Expires_at_is_whole_seconds_in_utc_for_every_dialect(string dialect)
    {
        _world.Clock.Advance(TimeSpan.FromTicks(1_234_567)); // a clock between two seconds
        var account = await _world.AccountAsync(dialect);
        var key = await _world.ConsumerAsync(account.Name);

        using var response = await _world.Broker.SendAsync(_world.Broker.Request(HttpMethod.Get, $"/v1/accounts/{account.Name}/token", key));
        var text = await response.Content.ReadAsStringAsync();

        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        var expiresAt = JsonNode.Parse(text)!["expires_at"]!.GetValue<string>();
        WholeSecondsUtc().IsMatch(expiresAt).ShouldBeTrue($"expires_at is {expiresAt}");
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|\+00:00)$")]
    private static partial Regex WholeSecondsUtc();
}
