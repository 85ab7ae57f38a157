using Broker.Domain;
using Broker.Infrastructure.Upstream.Dialects;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.UnitTests.Dialects;

public class SlideRuleDialectTests
{
    private static readonly DialectClient Dialect = SlideRuleDialect.Instance;
    private static readonly ProviderEndpoint Provider = Providers.SlideRule();
    private static readonly DateTimeOffset Now = new(2022, 11, 28, 13, 3, 8, TimeSpan.Zero);

    [Fact]
    public void SlideRule_login_grants_the_token_pair_with_the_stated_expiries()
    {
        var outcome = Dialect.MapLogIn(200, Seed.SlideRuleLogIn, Now, Provider);

        var tokens = outcome.ShouldBeOfType<Granted>().Tokens;
        tokens.AccessToken.ShouldStartWith("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwi12345");
        tokens.AccessToken.ShouldEndWith(".4Q2E76l4UGHbUlrN7hYPKIEa4FKMJ7UhFEwJTV6fqdk");
        tokens.RefreshToken.ShouldNotBeNull().ShouldEndWith(".czx8dPA4msGC1234581K6iwVwpW815kzluk7Htw-gow");
        tokens.AccessExpiresAt.ShouldBe(new DateTimeOffset(2022, 11, 29, 13, 3, 8, TimeSpan.Zero));
        tokens.RefreshExpiresAt.ShouldBe(Now.AddSeconds(2592000));
        tokens.TokenType.ShouldBe("Bearer");
        outcome.Status.ShouldBe(200);
    }

    [Fact]
    public void SlideRule_refresh_grants_a_rotated_pair()
    {
        var outcome = Dialect.MapRefresh(200, Seed.SlideRuleRefresh, Now, Provider);

        var tokens = outcome.ShouldBeOfType<Granted>().Tokens;
        tokens.AccessToken.ShouldEndWith(".NX396fsa-FotYMctDVe0CSVRDs17Q5lVuoBPCWPkRhM");
        tokens.RefreshToken.ShouldNotBeNull().ShouldEndWith(".hqbI18P8alQ1v2s0qun1NxOlou3QG0Ggd4vPmAotaZc");
        tokens.AccessExpiresAt.ShouldBe(new DateTimeOffset(2022, 11, 29, 15, 24, 9, TimeSpan.Zero));
        tokens.RefreshExpiresAt.ShouldBe(Now.AddSeconds(2592000));
    }

    [Fact]
    public void SlideRule_exp_is_read_as_utc_and_agrees_with_the_access_tokens_own_claim()
    {
        var tokens = Dialect.MapRefresh(200, Seed.SlideRuleRefresh, Now, Provider).ShouldBeOfType<Granted>().Tokens;

        tokens.AccessExpiresAt.ShouldBe(Jwt.TryReadExpiry(tokens.AccessToken)!.Value);
    }

    [Fact]
    public void SlideRule_access_lifetime_counts_from_the_request_when_exp_is_absent()
    {
        const string body = """{"access_lifetime": "86400.0", "refresh_lifetime": "2592000.0", "refresh": "r", "access": "a"}""";

        var tokens = Dialect.MapLogIn(200, body, Now, Provider).ShouldBeOfType<Granted>().Tokens;

        tokens.AccessExpiresAt.ShouldBe(Now.AddDays(1));
    }

    [Fact]
    public void SlideRule_login_of_an_inactive_member_is_account_inactive()
    {
        var outcome = Dialect.MapLogIn(200, Seed.SlideRuleInactive, Now, Provider);

        outcome.ShouldBeOfType<AccountInactive>().Status.ShouldBe(200);
    }

    [Fact]
    public void SlideRule_refresh_of_an_inactive_member_is_account_inactive()
    {
        Dialect.MapRefresh(200, Seed.SlideRuleInactive, Now, Provider).ShouldBeOfType<AccountInactive>();
    }

    [Fact]
    public void SlideRule_bad_credentials_are_rejected()
    {
        var outcome = Dialect.MapLogIn(401, Seed.SlideRuleBadCredentials, Now, Provider);

        outcome.ShouldBeOfType<CredentialsRejected>().Status.ShouldBe(401);
        outcome.Detail.ShouldBe("No active account found with the given credentials");
    }

    [Fact]
    public void SlideRule_invalid_organization_rejects_the_credentials()
    {
        var outcome = Dialect.MapLogIn(403, Seed.SlideRuleInvalidOrganization, Now, Provider);

        outcome.ShouldBeOfType<CredentialsRejected>().Status.ShouldBe(403);
        outcome.Detail.ShouldBe("{org} is NOT a valid organization name");
    }

    [Fact]
    public void SlideRule_login_with_missing_fields_rejects_the_credentials()
    {
        var outcome = Dialect.MapLogIn(400, """{"org_name": ["This field is required."]}""", Now, Provider);

        outcome.ShouldBeOfType<CredentialsRejected>().Detail.ShouldContain("org_name");
    }

    [Fact]
    public void SlideRule_blacklisted_refresh_is_rejected()
    {
        var outcome = Dialect.MapRefresh(403, Seed.SlideRuleBlacklisted, Now, Provider);

        outcome.ShouldBeOfType<RefreshRejected>().Status.ShouldBe(403);
        outcome.Detail.ShouldBe("Token is blacklisted (token_not_valid)");
    }

    [Fact]
    public void SlideRule_refresh_for_a_non_member_is_rejected_so_that_the_login_tells_the_truth()
    {
        var outcome = Dialect.MapRefresh(403, Seed.SlideRuleNotAMember, Now, Provider);

        outcome.ShouldBeOfType<RefreshRejected>();
        outcome.Detail.ShouldBe("{user} is NOT a member of {organization}");
    }

    [Fact]
    public void SlideRule_refresh_with_an_invalid_token_is_rejected()
    {
        var outcome = Dialect.MapRefresh(403, Seed.SlideRuleTokenNotValid, Now, Provider);

        outcome.ShouldBeOfType<RefreshRejected>();
        outcome.Detail.ShouldBe("Given token not valid for any token type");
    }

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    public void SlideRule_other_refresh_refusals_are_rejected_refreshes(int status)
    {
        Dialect.MapRefresh(status, """{"detail": "Token is invalid or expired", "code": "token_not_valid"}""", Now, Provider)
            .ShouldBeOfType<RefreshRejected>().Status.ShouldBe(status);
    }

    [Fact]
    public void SlideRule_unknown_url_is_a_missing_endpoint_that_names_the_url()
    {
        var outcome = Dialect.MapRefresh(404, Seed.SlideRuleNotFound, Now, Provider);

        outcome.ShouldBeOfType<EndpointNotFound>().Status.ShouldBe(404);
        outcome.Detail.ShouldStartWith($"{RefreshUrls.For(Provider)!.GetLeftPart(UriPartial.Path)} answered HTTP 404");
    }

    [Fact]
    public void SlideRule_answer_without_an_access_token_is_a_protocol_error_that_does_not_quote_the_refresh_token()
    {
        var outcome = Dialect.MapLogIn(200, """{"refresh": "a-refresh-token", "refresh_lifetime": "2592000.0"}""", Now, Provider);

        outcome.ShouldBeOfType<ProtocolError>();
        outcome.Detail.ShouldNotContain("a-refresh-token");
    }
}
