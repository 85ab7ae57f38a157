using Broker.Domain;
using Broker.Infrastructure.Upstream.Dialects;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.UnitTests.Dialects;

public class OAuth2PasswordDialectTests
{
    private static readonly DialectClient Dialect = OAuth2PasswordDialect.Instance;
    private static readonly ProviderEndpoint Provider = Providers.OAuth2Password();
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void OAuth2_password_login_grants_opaque_tokens_for_expires_in()
    {
        var outcome = Dialect.MapLogIn(200, Seed.OAuth2Token, Now, Provider);

        var tokens = outcome.ShouldBeOfType<Granted>().Tokens;
        tokens.AccessToken.ShouldBe("Df0Z0r74hxZmO47mo9QnRrncVJIGU6");
        tokens.RefreshToken.ShouldBe("Y23rwVNSRtLjhy2nIwslJdo3FbAS6d");
        tokens.AccessExpiresAt.ShouldBe(Now.AddSeconds(3600));
        tokens.RefreshExpiresAt.ShouldBeNull();
        tokens.TokenType.ShouldBe("Bearer");
    }

    [Fact]
    public void OAuth2_expires_in_given_as_a_string_is_read_too()
    {
        // Seed 004 documents expires_in as a String.
        var body = Seed.OAuth2Token.Replace("\"expires_in\": 3600", "\"expires_in\": \"3600\"");
        body.ShouldContain("\"3600\"");

        Dialect.MapLogIn(200, body, Now, Provider).ShouldBeOfType<Granted>().Tokens.AccessExpiresAt.ShouldBe(Now.AddSeconds(3600));
    }

    [Fact]
    public void OAuth2_refresh_grants_the_rotated_pair()
    {
        var tokens = Dialect.MapRefresh(200, Seed.OAuth2Token, Now, Provider).ShouldBeOfType<Granted>().Tokens;

        tokens.RefreshToken.ShouldBe("Y23rwVNSRtLjhy2nIwslJdo3FbAS6d");
    }

    [Fact]
    public void OAuth2_refresh_without_a_new_refresh_token_leaves_it_to_the_caller()
    {
        var tokens = Dialect.MapRefresh(200, """{"access_token": "a", "expires_in": 3600, "token_type": "Bearer"}""", Now, Provider)
            .ShouldBeOfType<Granted>().Tokens;

        tokens.RefreshToken.ShouldBeNull();
    }

    [Fact]
    public void OAuth2_keycloak_token_endpoint_answer_is_read_with_its_refresh_lifetime()
    {
        var tokens = Dialect.MapLogIn(200, Seed.KeycloakToken, Now, Provider).ShouldBeOfType<Granted>().Tokens;

        tokens.AccessExpiresAt.ShouldBe(Now.AddSeconds(600));
        tokens.RefreshExpiresAt.ShouldBe(Now.AddSeconds(1800));
    }

    [Fact]
    public void OAuth2_invalid_grant_on_login_rejects_the_credentials()
    {
        var outcome = Dialect.MapLogIn(400, Seed.OAuth2InvalidGrant, Now, Provider);

        outcome.ShouldBeOfType<CredentialsRejected>().Status.ShouldBe(400);
        outcome.Detail.ShouldBe("invalid_grant: Invalid credentials given.");
    }

    [Fact]
    public void OAuth2_invalid_grant_on_refresh_rejects_the_refresh()
    {
        Dialect.MapRefresh(400, Seed.OAuth2InvalidGrant, Now, Provider).ShouldBeOfType<RefreshRejected>().Status.ShouldBe(400);
    }

    [Theory]
    [InlineData(401, """{"error": "invalid_client"}""")]
    [InlineData(400, """{"error": "unauthorized_client", "error_description": "Client not allowed for direct access grants"}""")]
    [InlineData(400, """{"error": "invalid_scope"}""")]
    [InlineData(401, "")]
    public void OAuth2_client_and_scope_errors_reject_the_credentials_on_login(int status, string body)
    {
        Dialect.MapLogIn(status, body, Now, Provider).ShouldBeOfType<CredentialsRejected>().Status.ShouldBe(status);
    }

    [Theory]
    [InlineData(401, """{"error": "invalid_client"}""")]
    [InlineData(400, """{"error": "unauthorized_client"}""")]
    [InlineData(400, """{"error": "invalid_scope"}""")]
    public void OAuth2_client_and_scope_errors_reject_the_credentials_on_refresh(int status, string body)
    {
        Dialect.MapRefresh(status, body, Now, Provider).ShouldBeOfType<CredentialsRejected>();
    }

    [Theory]
    [InlineData("""{"error": "invalid_request", "error_description": "Missing grant type."}""")]
    [InlineData("""{"error": "unsupported_grant_type"}""")]
    [InlineData("""{"detail": "something else"}""")]
    public void OAuth2_malformed_request_errors_are_protocol_errors(string body)
    {
        Dialect.MapLogIn(400, body, Now, Provider).ShouldBeOfType<ProtocolError>().Status.ShouldBe(400);
        Dialect.MapRefresh(400, body, Now, Provider).ShouldBeOfType<ProtocolError>();
    }

    [Fact]
    public void OAuth2_keycloak_disabled_user_is_inactive_on_login()
    {
        Dialect.MapLogIn(400, """{"error":"invalid_grant","error_description":"Account disabled"}""", Now, Provider)
            .ShouldBeOfType<AccountInactive>();
    }

    [Fact]
    public void OAuth2_keycloak_inactive_refresh_token_is_rejected()
    {
        Dialect.MapRefresh(400, """{"error":"invalid_grant","error_description":"Token is not active"}""", Now, Provider)
            .ShouldBeOfType<RefreshRejected>();
    }

    [Fact]
    public void OAuth2_other_token_types_are_kept_as_given()
    {
        Dialect.MapLogIn(200, """{"access_token": "a", "expires_in": 60, "token_type": "DPoP"}""", Now, Provider)
            .ShouldBeOfType<Granted>().Tokens.TokenType.ShouldBe("DPoP");
    }
}

public class OAuth2ClientCredentialsDialectTests
{
    private static readonly DialectClient Dialect = OAuth2ClientCredentialsDialect.Instance;
    private static readonly ProviderEndpoint Provider = Providers.OAuth2ClientCredentials();
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Client_credentials_grant_has_no_refresh_token()
    {
        const string body = """{"access_token": "cc-access", "expires_in": 3600, "token_type": "bearer", "scope": "read"}""";

        var tokens = Dialect.MapLogIn(200, body, Now, Provider).ShouldBeOfType<Granted>().Tokens;

        tokens.AccessToken.ShouldBe("cc-access");
        tokens.AccessExpiresAt.ShouldBe(Now.AddHours(1));
        tokens.RefreshToken.ShouldBeNull();
        tokens.RefreshExpiresAt.ShouldBeNull();
        tokens.TokenType.ShouldBe("Bearer");
    }

    [Fact]
    public void Client_credentials_refresh_token_sent_anyway_is_not_kept()
    {
        Dialect.MapLogIn(200, Seed.OAuth2Token, Now, Provider).ShouldBeOfType<Granted>().Tokens.RefreshToken.ShouldBeNull();
    }

    [Theory]
    [InlineData(401, """{"error": "invalid_client"}""")]
    [InlineData(400, """{"error": "invalid_client"}""")]
    [InlineData(400, """{"error": "invalid_grant"}""")]
    [InlineData(400, """{"error": "unauthorized_client"}""")]
    [InlineData(400, """{"error": "invalid_scope"}""")]
    public void Client_credentials_refusals_reject_the_credentials(int status, string body)
    {
        Dialect.MapLogIn(status, body, Now, Provider).ShouldBeOfType<CredentialsRejected>().Status.ShouldBe(status);
    }

    [Fact]
    public void Client_credentials_unsupported_grant_type_is_a_protocol_error()
    {
        Dialect.MapLogIn(400, """{"error": "unsupported_grant_type"}""", Now, Provider).ShouldBeOfType<ProtocolError>();
    }

    [Fact]
    public void Client_credentials_has_no_refresh_request()
    {
        Dialect.BuildRefresh(Provider, new AccountCredentials(null, null, null, "id", "secret", null), "whatever").ShouldBeNull();
    }
}
