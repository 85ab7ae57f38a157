using Broker.Domain;
using Broker.Infrastructure.Webhooks;

namespace Broker.UnitTests.Webhooks;

public sealed class WebhookRulesTests
{
    [Theory]
    [InlineData(AccountState.Active, AccountState.NeedsAttention, WebhookEvents.NeedsAttention)]
    [InlineData(AccountState.Inactive, AccountState.NeedsAttention, WebhookEvents.NeedsAttention)]
    [InlineData(AccountState.Active, AccountState.Inactive, WebhookEvents.Inactive)]
    [InlineData(AccountState.NeedsAttention, AccountState.Active, WebhookEvents.Recovered)]
    [InlineData(AccountState.Inactive, AccountState.Active, WebhookEvents.Recovered)]
    [InlineData(AccountState.Active, AccountState.Active, null)]
    [InlineData(AccountState.NeedsAttention, AccountState.NeedsAttention, null)]
    public void A_state_change_makes_its_event(AccountState from, AccountState to, string? expected) =>
        WebhookEvents.ForStateChange(from, to).ShouldBe(expected);

    [Fact]
    public void Backoff_stays_between_a_second_and_a_cap_that_doubles_up_to_the_maximum()
    {
        var settings = new WebhookOptions { RetryBase = TimeSpan.FromSeconds(5), RetryMax = TimeSpan.FromMinutes(1) };
        for (var attempts = 1; attempts <= 40; attempts++)
        {
            var cap = TimeSpan.FromTicks(Math.Min(settings.RetryMax.Ticks, settings.RetryBase.Ticks * (long)Math.Pow(2, Math.Min(attempts - 1, 20))));
            for (var i = 0; i < 200; i++)
            {
                var delay = WebhookDispatcher.Backoff(attempts, settings);
                delay.ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(1));
                delay.ShouldBeLessThanOrEqualTo(cap);
            }
        }
    }

    [Fact]
    public void The_signature_is_an_hmac_of_the_time_and_the_body()
    {
        // HMAC-SHA256("secret", "1700000000.{}"), computed independently (openssl dgst -sha256 -hmac secret).
        WebhookSignature.Sign("secret", 1_700_000_000, "{}").ShouldBe($"t=1700000000,v1={ExpectedHex}");
        WebhookSignature.NewSecret().ShouldStartWith("whsec_");
        WebhookSignature.NewSecret().ShouldNotBe(WebhookSignature.NewSecret());
    }

    private const string ExpectedHex = "b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163";

    [Fact]
    public void An_expiring_refresh_token_has_one_event_id_per_account_and_expiry()
    {
        var account = Guid.NewGuid();
        var expiry = DateTimeOffset.UtcNow;
        RefreshExpiryScanner.EventId(account, expiry).ShouldBe(RefreshExpiryScanner.EventId(account, expiry));
        RefreshExpiryScanner.EventId(account, expiry.AddSeconds(1)).ShouldNotBe(RefreshExpiryScanner.EventId(account, expiry));
        RefreshExpiryScanner.EventId(Guid.NewGuid(), expiry).ShouldNotBe(RefreshExpiryScanner.EventId(account, expiry));
    }
}
