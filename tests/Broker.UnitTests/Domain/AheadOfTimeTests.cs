using Broker.Domain;

namespace Broker.UnitTests.Domain;

public sealed class AheadOfTimeTests
{
    private static readonly DateTimeOffset Obtained = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Expires = Obtained.AddMinutes(10);

    [Theory]
    [InlineData(6.9, false)]
    [InlineData(7.0, true)]
    [InlineData(9.5, true)]
    public void A_token_is_due_once_the_share_of_its_lifetime_has_passed(double minutes, bool due) =>
        AheadOfTime.IsDue(Obtained, Expires, null, Obtained.AddMinutes(minutes), 0.7, 0, 0, TimeSpan.Zero).ShouldBe(due);

    [Fact]
    public void Jitter_makes_an_account_due_earlier_by_its_fixed_share()
    {
        var at = Obtained.AddMinutes(6.5);
        AheadOfTime.IsDue(Obtained, Expires, null, at, 0.7, 0.1, accountShare: 0.0, TimeSpan.Zero).ShouldBeFalse();
        AheadOfTime.IsDue(Obtained, Expires, null, at, 0.7, 0.1, accountShare: 0.9, TimeSpan.Zero).ShouldBeTrue();
    }

    [Fact]
    public void A_refresh_token_about_to_lapse_makes_the_account_due()
    {
        var now = Obtained.AddMinutes(1);
        AheadOfTime.IsDue(Obtained, Expires, now.AddMinutes(1), now, 0.7, 0, 0, TimeSpan.FromMinutes(2)).ShouldBeTrue();
        AheadOfTime.IsDue(Obtained, Expires, now.AddMinutes(10), now, 0.7, 0, 0, TimeSpan.FromMinutes(2)).ShouldBeFalse();
    }

    [Fact]
    public void Account_shares_are_stable_and_between_zero_and_one()
    {
        var id = Guid.NewGuid();
        AheadOfTime.ShareOf(id).ShouldBe(AheadOfTime.ShareOf(id));
        Enumerable.Range(0, 100).Select(_ => AheadOfTime.ShareOf(Guid.NewGuid())).ShouldAllBe(s => s >= 0 && s <= 1);
    }
}
