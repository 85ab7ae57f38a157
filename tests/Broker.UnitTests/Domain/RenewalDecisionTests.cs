using Broker.Domain;

namespace Broker.UnitTests.Domain;

/// <summary>The renewal's upstream steps: what comes first, and what follows a refresh that was not granted.</summary>
public sealed class RenewalDecisionTests
{
    public static TheoryData<UpstreamOutcome> NotGranted =>
    [
        new UpstreamOutcome.RefreshRejected(400, "invalid_grant"),
        new UpstreamOutcome.Unavailable(503, "down"),
        new UpstreamOutcome.Unavailable(null, "timed out", TimedOut: true),
        new UpstreamOutcome.ProtocolError(200, "no access_token"),
        new UpstreamOutcome.CredentialsRejected(401, "invalid_client"),
        new UpstreamOutcome.AccountInactive(200, "inactive"),
        new UpstreamOutcome.DestinationRefused("not allowed"),
    ];

    [Theory]
    [MemberData(nameof(NotGranted))]
    public void An_account_that_cannot_log_in_is_never_sent_to_log_in(UpstreamOutcome outcome) =>
        TokenPolicy.AfterRefreshFailed(outcome, canLogIn: false).ShouldNotBe(RefreshFallback.LogIn);

    [Fact]
    public void A_refused_refresh_token_logs_in_or_needs_a_person()
    {
        var refused = new UpstreamOutcome.RefreshRejected(400, "invalid_grant");
        TokenPolicy.AfterRefreshFailed(refused, canLogIn: true).ShouldBe(RefreshFallback.LogIn);
        TokenPolicy.AfterRefreshFailed(refused, canLogIn: false).ShouldBe(RefreshFallback.ReconnectRequired);
    }

    [Fact]
    public void A_refresh_that_failed_midway_is_never_replayed_by_an_account_that_can_log_in()
    {
        var unavailable = new UpstreamOutcome.Unavailable(null, "timed out", TimedOut: true);
        TokenPolicy.AfterRefreshFailed(unavailable, canLogIn: true).ShouldBe(RefreshFallback.LogIn);
        // One that cannot keeps its token (all it has) and fails for now.
        TokenPolicy.AfterRefreshFailed(unavailable, canLogIn: false).ShouldBe(RefreshFallback.Fail);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void An_unreadable_answer_falls_back_on_nothing(bool canLogIn) =>
        TokenPolicy.AfterRefreshFailed(new UpstreamOutcome.ProtocolError(200, "garbage"), canLogIn).ShouldBe(RefreshFallback.Fail);

    [Fact]
    public void A_granted_refresh_has_no_fallback() =>
        Should.Throw<ArgumentException>(() => TokenPolicy.AfterRefreshFailed(
            new UpstreamOutcome.Granted(new TokenSet("a", DateTimeOffset.UnixEpoch, null, null)), canLogIn: true));

    [Theory]
    [InlineData(true, true, false, RenewalStep.Refresh)]
    [InlineData(true, true, true, RenewalStep.LogIn)] // an admin's test logs in an account that can
    [InlineData(false, true, true, RenewalStep.Refresh)] // one that cannot is tested by a refresh
    [InlineData(false, true, false, RenewalStep.Refresh)]
    [InlineData(true, false, false, RenewalStep.LogIn)]
    [InlineData(true, false, true, RenewalStep.LogIn)]
    [InlineData(false, false, false, RenewalStep.None)]
    [InlineData(false, false, true, RenewalStep.None)]
    public void The_first_step_logs_in_only_an_account_that_can(bool canLogIn, bool canRefresh, bool preferLogin, RenewalStep expected)
    {
        var step = TokenPolicy.FirstStep(canLogIn, canRefresh, preferLogin);
        step.ShouldBe(expected);
        if (!canLogIn) step.ShouldNotBe(RenewalStep.LogIn);
    }
}

/// <summary>A resent refresh token's answer, dated from the first attempt (an upstream within its reuse grace may return that attempt's tokens).</summary>
public sealed class ResumedAnswerTests
{
    private static readonly DateTimeOffset First = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_resumed_answers_lifetime_counts_from_the_first_attempt()
    {
        var resentAt = First.AddSeconds(40);
        var answer = new TokenSet("a", resentAt.AddMinutes(5), "r", resentAt.AddDays(1));

        var dated = TokenPolicy.DatedFromFirstAttempt(answer, jwtExpiry: null, First, resentAt);

        dated.AccessExpiresAt.ShouldBe(First.AddMinutes(5));
        dated.RefreshExpiresAt.ShouldBe(First.AddDays(1));
    }

    [Fact]
    public void A_jwt_exp_proves_the_lifetime_otherwise()
    {
        var resentAt = First.AddSeconds(40);
        var answer = new TokenSet("a", resentAt.AddMinutes(5), "r", null);

        TokenPolicy.DatedFromFirstAttempt(answer, jwtExpiry: resentAt.AddMinutes(5), First, resentAt).AccessExpiresAt.ShouldBe(resentAt.AddMinutes(5));
        TokenPolicy.DatedFromFirstAttempt(answer, jwtExpiry: First.AddMinutes(1), First, resentAt).AccessExpiresAt.ShouldBe(First.AddMinutes(1));
    }
}
