using Broker.Domain;

namespace Broker.UnitTests.Domain;

public sealed class TokenPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Skew = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(120, 60, true)]   // 120 s left, needs 60 + 30
    [InlineData(90, 60, true)]    // exactly enough
    [InlineData(89, 60, false)]
    [InlineData(-1, 0, false)]    // expired
    public void A_token_is_usable_while_it_outlives_min_validity_plus_the_clock_skew(int secondsLeft, int minValidity, bool usable) =>
        TokenPolicy.IsUsable(Now.AddSeconds(secondsLeft), Now, TimeSpan.FromSeconds(minValidity), Skew).ShouldBe(usable);

    [Fact]
    public void A_missing_expiry_is_never_usable() => TokenPolicy.IsUsable(null, Now, TimeSpan.Zero, Skew).ShouldBeFalse();

    [Fact]
    public void A_refresh_token_is_tried_while_its_own_expiry_is_ahead_or_unknown()
    {
        TokenPolicy.CanRefresh(Stored(refreshExpiresAt: null), Now, Skew).ShouldBeTrue();
        TokenPolicy.CanRefresh(Stored(refreshExpiresAt: Now.AddMinutes(5)), Now, Skew).ShouldBeTrue();
        TokenPolicy.CanRefresh(Stored(refreshExpiresAt: Now.AddSeconds(10)), Now, Skew).ShouldBeFalse();
    }

    [Fact]
    public void Without_a_refresh_token_or_a_refresh_request_there_is_nothing_to_refresh_with()
    {
        TokenPolicy.CanRefresh(Stored(hasRefresh: false), Now, Skew).ShouldBeFalse();
        TokenPolicy.CanRefresh(Stored(dialect: Dialect.OAuth2ClientCredentials), Now, Skew).ShouldBeFalse();
    }

    [Fact]
    public void A_token_obtained_a_moment_ago_is_the_best_available_even_if_short_lived()
    {
        TokenPolicy.IsBestAvailable(Now.AddSeconds(-3), Now.AddSeconds(20), Now, TimeSpan.FromSeconds(10)).ShouldBeTrue();
        TokenPolicy.IsBestAvailable(Now.AddSeconds(-30), Now.AddSeconds(20), Now, TimeSpan.FromSeconds(10)).ShouldBeFalse();
        TokenPolicy.IsBestAvailable(Now.AddSeconds(-3), Now.AddSeconds(-1), Now, TimeSpan.FromSeconds(10)).ShouldBeFalse();
    }

    [Theory]
    [InlineData(120, 600, 60, true)]  // usable for long enough, however old
    [InlineData(20, 3, 60, true)]     // too short, but obtained a moment ago: the best the upstream gives
    [InlineData(20, 30, 60, false)]   // too short and not fresh: renew
    [InlineData(-1, 3, 0, false)]     // expired, however fresh
    [InlineData(20, null, 60, false)]  // never obtained here: only usability counts
    public void A_stored_token_serves_when_usable_or_the_best_available(int secondsLeft, int? obtainedSecondsAgo, int minValidity, bool serves) =>
        TokenPolicy.Serves(Now.AddSeconds(secondsLeft), obtainedSecondsAgo is { } ago ? Now.AddSeconds(-ago) : null, Now,
            TimeSpan.FromSeconds(minValidity), Skew, TimeSpan.FromSeconds(10)).ShouldBe(serves);

    private static StoredTokenState Stored(Dialect dialect = Dialect.SlideRule, bool hasRefresh = true, DateTimeOffset? refreshExpiresAt = null) =>
        new(dialect, hasRefresh, refreshExpiresAt);

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 10)]
    [InlineData(60, 60)]
    [InlineData(61, 90)]
    [InlineData(3599, 3600)]
    [InlineData(3601, 5400)]
    public void Flights_ask_for_the_next_step_up_so_odd_min_validity_values_share_one(int asked, int flight) =>
        TokenPolicy.FlightMinValidity(TimeSpan.FromSeconds(asked)).ShouldBe(TimeSpan.FromSeconds(flight));

    [Fact]
    public void Any_min_validity_a_caller_may_ask_for_maps_onto_a_handful_of_flights()
    {
        var flights = Enumerable.Range(0, 86_400).Select(s => TokenPolicy.FlightMinValidity(TimeSpan.FromSeconds(s))).ToList();
        flights.Distinct().Count().ShouldBeLessThanOrEqualTo(70);
        flights.Select((flight, asked) => flight >= TimeSpan.FromSeconds(asked)).ShouldAllBe(atLeastAsked => atLeastAsked);
        flights.Select((flight, asked) => flight.TotalSeconds <= Math.Max(10, asked * 1.5)).ShouldAllBe(notMuchMore => notMuchMore);
    }
}
