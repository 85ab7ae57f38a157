using Broker.Domain;
using Broker.Infrastructure.Upstream.Dialects;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.UnitTests.Dialects;

public class KeycloakDialectTests
{
    private static readonly DialectClient Dialect = KeycloakDialect.Instance;
    private static readonly ProviderEndpoint Provider = Providers.Keycloak();
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Keycloak_login_takes_expires_in_and_refresh_expires_in()
    {
        var outcome = Dialect.MapLogIn(200, Seed.KeycloakToken, Now, Provider);

        var tokens = outcome.ShouldBeOfType<Granted>().Tokens;
        tokens.AccessToken.ShouldEndWith(".gWBaqQBtJuXFeVJ_2EQTQHcZ1Uq5afG1QWTeMDq6WK7xwNCNeFcoBOMPJ7aw9zSE2xsK9H9p0vNlWxZsT1i8tEpb0LCan-dy6Ag19szUlJ8UOpH4Hv-Q09sIBOXhpVX9hWObkVYhXM9Q1DmlwuZXpNmbUs_20Eq8BIgxjVHJq489EaHh8EDm26tkU8DbLTzbR4PLG5f1vHZAutoH8g1q8mXmCiiW9A1bLL_nTvl0sGqrH1g0bkJBEu-bLncb0tjlDadtmMEbtfP3cXBXqhhfTzFFoJn-SWkAEDhV0KX05rs9FPRuwwvc5klyJLiBNNFVDBweAdZGIrqoePSvVl2oFA");
        tokens.RefreshToken.ShouldNotBeNull().ShouldEndWith(".vr9KD8O9MPgxkh-AAkwbOsCMlfMytmhsioEb6WJN2RU");
        // The answer's relative lifetimes win over the JWT exp claims (which say 2021).
        tokens.AccessExpiresAt.ShouldBe(Now.AddSeconds(600));
        tokens.RefreshExpiresAt.ShouldBe(Now.AddSeconds(1800));
    }

    [Fact]
    public void Keycloak_lower_case_bearer_is_normalised()
    {
        Dialect.MapLogIn(200, Seed.KeycloakToken, Now, Provider).ShouldBeOfType<Granted>().Tokens.TokenType.ShouldBe("Bearer");
    }

    [Fact]
    public void Keycloak_refresh_grants_a_new_pair()
    {
        var tokens = Dialect.MapRefresh(200, Seed.KeycloakToken, Now, Provider).ShouldBeOfType<Granted>().Tokens;

        tokens.AccessExpiresAt.ShouldBe(Now.AddSeconds(600));
        tokens.RefreshToken.ShouldNotBeNull();
    }

    [Fact]
    public void Keycloak_offline_token_with_refresh_expires_in_zero_does_not_expire()
    {
        const string body = """{"access_token": "a", "expires_in": 300, "refresh_expires_in": 0, "refresh_token": "r", "token_type": "Bearer"}""";

        var tokens = Dialect.MapLogIn(200, body, Now, Provider).ShouldBeOfType<Granted>().Tokens;

        tokens.RefreshToken.ShouldBe("r");
        tokens.RefreshExpiresAt.ShouldBeNull();
    }

    [Theory]
    [InlineData(401, """{"error":"invalid_grant","error_description":"Invalid user credentials"}""")]
    [InlineData(400, """{"error":"invalid_grant","error_description":"Account is not fully set up"}""")]
    [InlineData(403, """{"error":"forbidden"}""")]
    public void Keycloak_refused_login_rejects_the_credentials(int status, string body)
    {
        Dialect.MapLogIn(status, body, Now, Provider).ShouldBeOfType<CredentialsRejected>().Status.ShouldBe(status);
    }

    [Fact]
    public void Keycloak_disabled_account_is_inactive()
    {
        var outcome = Dialect.MapLogIn(400, """{"error":"invalid_grant","error_description":"Account disabled"}""", Now, Provider);

        outcome.ShouldBeOfType<AccountInactive>();
        outcome.Detail.ShouldBe("invalid_grant: Account disabled");
    }

    [Fact]
    public void Keycloak_brute_force_lock_out_is_not_an_inactive_account()
    {
        Dialect.MapLogIn(400, """{"error":"invalid_grant","error_description":"Account temporarily disabled"}""", Now, Provider)
            .ShouldBeOfType<CredentialsRejected>();
    }

    [Fact]
    public void Keycloak_forbidden_refresh_is_rejected()
    {
        var outcome = Dialect.MapRefresh(403, """{"error":"forbidden"}""", Now, Provider);

        outcome.ShouldBeOfType<RefreshRejected>().Status.ShouldBe(403);
        outcome.Detail.ShouldBe("forbidden");
    }

    [Theory]
    [InlineData(400, """{"error":"invalid_grant","error_description":"Token is not active"}""")]
    [InlineData(400, """{"error":"invalid_grant","error_description":"Session not active"}""")]
    [InlineData(401, """{"error":"invalid_token"}""")]
    public void Keycloak_expired_or_revoked_refresh_is_rejected(int status, string body)
    {
        Dialect.MapRefresh(status, body, Now, Provider).ShouldBeOfType<RefreshRejected>();
    }
}
