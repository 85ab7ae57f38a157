using Broker.Domain;

namespace Broker.UnitTests.Domain;

/// <summary>The decision after a refresh whose answer was lost (docs/architecture.md, "Crash safety").</summary>
public sealed class RefreshRecoveryTests
{
    private static readonly DateTimeOffset Started = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);
    private static readonly string Sent = RefreshAttempt.Hash("refresh-1");
    private static readonly RefreshAttempt Unfinished = new() { AccountId = Guid.NewGuid(), StartedAt = Started, TokenSha256 = Sent };
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Nothing_unfinished_refreshes_as_usual(bool canLogIn) =>
        RefreshRecovery.Decide(null, Sent, Grace, canLogIn, Started).ShouldBe(RecoveryStep.Refresh);

    [Fact]
    public void An_attempt_with_a_token_replaced_since_is_history()
    {
        var later = RefreshAttempt.Hash("refresh-2");
        RefreshRecovery.Decide(Unfinished, later, reuseGrace: null, canLogIn: false, Started.AddDays(1)).ShouldBe(RecoveryStep.Refresh);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Within_the_providers_grace_the_same_token_is_sent_again(bool canLogIn)
    {
        RefreshRecovery.Decide(Unfinished, Sent, Grace, canLogIn, Started).ShouldBe(RecoveryStep.RetryWithinGrace);
        RefreshRecovery.Decide(Unfinished, Sent, Grace, canLogIn, Started + Grace - TimeSpan.FromTicks(1)).ShouldBe(RecoveryStep.RetryWithinGrace);
    }

    [Theory]
    [InlineData(30, 30, RecoveryStep.LogIn)] // the grace ends at its last instant
    [InlineData(30, 3600, RecoveryStep.LogIn)]
    [InlineData(null, 0, RecoveryStep.LogIn)] // no grace at all: not even a moment later
    public void Past_the_grace_an_account_that_can_log_in_logs_in(int? graceSeconds, int secondsLater, RecoveryStep expected) =>
        RefreshRecovery.Decide(Unfinished, Sent, graceSeconds is { } g ? TimeSpan.FromSeconds(g) : null, canLogIn: true, Started.AddSeconds(secondsLater))
            .ShouldBe(expected);

    [Theory]
    [InlineData(30, 30)]
    [InlineData(null, 0)]
    public void Past_the_grace_an_account_that_cannot_log_in_needs_a_reconnect(int? graceSeconds, int secondsLater) =>
        RefreshRecovery.Decide(Unfinished, Sent, graceSeconds is { } g ? TimeSpan.FromSeconds(g) : null, canLogIn: false, Started.AddSeconds(secondsLater))
            .ShouldBe(RecoveryStep.ReconnectRequired);

    [Fact]
    public void The_hash_names_the_token_without_holding_it()
    {
        var hash = RefreshAttempt.Hash("refresh-1");
        hash.Length.ShouldBe(64);
        hash.ShouldNotContain("refresh-1");
        hash.ShouldBe(RefreshAttempt.Hash("refresh-1"));
        hash.ShouldNotBe(RefreshAttempt.Hash("refresh-2"));
    }
}
