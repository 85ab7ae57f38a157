using Broker.Domain;
using Broker.Infrastructure.Upstream.Dialects;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.UnitTests.Dialects;

public class SimpleJwtDialectTests
{
    private static readonly DialectClient Dialect = SimpleJwtDialect.Instance;
    private static readonly ProviderEndpoint Provider = Providers.SimpleJwt();
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1648663647);

    [Fact]
    public void SimpleJwt_login_takes_the_expiries_from_the_tokens_exp_claims()
    {
        var outcome = Dialect.MapLogIn(200, Seed.SimpleJwtObtain, Now, Provider);

        var tokens = outcome.ShouldBeOfType<Granted>().Tokens;
        tokens.AccessToken.ShouldEndWith(".L4GXorALzmFOuu-NnyumEY7SbQum4kCdAQJ3QolGbqc");
        tokens.RefreshToken.ShouldNotBeNull().ShouldEndWith(".7sN29T5abguGOGR3dmwxNfVJZcMxE9qDSxFcYXIKYEc");
        tokens.AccessExpiresAt.ShouldBe(DateTimeOffset.FromUnixTimeSeconds(1648663947));
        tokens.RefreshExpiresAt.ShouldBe(DateTimeOffset.FromUnixTimeSeconds(1649873247));
        tokens.TokenType.ShouldBe("Bearer");
    }

    [Fact]
    public void SimpleJwt_access_token_lives_the_documented_five_minutes()
    {
        var tokens = Dialect.MapLogIn(200, Seed.SimpleJwtObtain, Now, Provider).ShouldBeOfType<Granted>().Tokens;

        (tokens.AccessExpiresAt - Now).ShouldBe(TimeSpan.FromMinutes(5));
    }

    [Fact]
    public void SimpleJwt_refresh_grants_the_rotated_pair()
    {
        var tokens = Dialect.MapRefresh(200, Seed.SimpleJwtRefresh, Now, Provider).ShouldBeOfType<Granted>().Tokens;

        tokens.AccessToken.ShouldEndWith(".-FPwOlMLX4WqGsJmmeY74F9R7EldudpvNnxO65hyeTw");
        tokens.RefreshToken.ShouldNotBeNull().ShouldEndWith(".FKJnVtXGyWu5_5s4TAHOuoF0iW8TmDe-Chcnt4XcWq0");
        tokens.AccessExpiresAt.ShouldBe(DateTimeOffset.FromUnixTimeSeconds(1648664543));
        tokens.RefreshExpiresAt.ShouldBe(DateTimeOffset.FromUnixTimeSeconds(1649873843));
    }

    [Fact]
    public void SimpleJwt_refresh_without_rotation_leaves_the_refresh_token_to_the_caller()
    {
        // ROTATE_REFRESH_TOKENS off: the answer holds the access token only.
        var access = Jwt(exp: 1648664543);

        var tokens = Dialect.MapRefresh(200, $$"""{"access": "{{access}}"}""", Now, Provider).ShouldBeOfType<Granted>().Tokens;

        tokens.RefreshToken.ShouldBeNull();
        tokens.RefreshExpiresAt.ShouldBeNull();
    }

    [Fact]
    public void SimpleJwt_bad_credentials_are_rejected()
    {
        var outcome = Dialect.MapLogIn(401, Seed.SimpleJwtNoActiveAccount, Now, Provider);

        outcome.ShouldBeOfType<CredentialsRejected>().Status.ShouldBe(401);
        outcome.Detail.ShouldBe("No active account found with the given credentials");
    }

    [Fact]
    public void SimpleJwt_field_errors_reject_the_credentials_and_name_the_fields()
    {
        var outcome = Dialect.MapLogIn(400, Seed.SimpleJwtFieldErrors, Now, Provider);

        outcome.ShouldBeOfType<CredentialsRejected>().Status.ShouldBe(400);
        outcome.Detail.ShouldBe("password: This field is required.");
    }

    [Fact]
    public void SimpleJwt_several_field_errors_are_all_named()
    {
        const string body = """{"username": ["This field is required."], "password": ["This field may not be blank."]}""";

        Dialect.MapLogIn(400, body, Now, Provider).Detail
            .ShouldBe("username: This field is required.; password: This field may not be blank.");
    }

    [Fact]
    public void SimpleJwt_used_or_expired_refresh_is_rejected()
    {
        var outcome = Dialect.MapRefresh(401, Seed.SimpleJwtTokenNotValid, Now, Provider);

        outcome.ShouldBeOfType<RefreshRejected>().Status.ShouldBe(401);
        outcome.Detail.ShouldBe("Token is invalid or expired (token_not_valid)");
    }

    [Fact]
    public void SimpleJwt_refresh_with_a_missing_field_is_a_rejected_refresh()
    {
        Dialect.MapRefresh(400, """{"refresh": ["This field is required."]}""", Now, Provider).ShouldBeOfType<RefreshRejected>();
    }

    [Fact]
    public void SimpleJwt_forbidden_login_is_a_protocol_error_not_a_rejection()
    {
        // Not a documented simplejwt answer (a proxy or firewall, say): never block the account on a guess.
        Dialect.MapLogIn(403, """{"detail": "CSRF Failed"}""", Now, Provider).ShouldBeOfType<ProtocolError>();
    }

    [Fact]
    public void SimpleJwt_opaque_tokens_fall_back_to_the_providers_default_lifetimes()
    {
        var provider = Providers.SimpleJwt(defaultRefreshLifetime: TimeSpan.FromDays(1));

        var tokens = Dialect.MapLogIn(200, """{"access": "opaque-a", "refresh": "opaque-r"}""", Now, provider)
            .ShouldBeOfType<Granted>().Tokens;

        tokens.AccessExpiresAt.ShouldBe(Now + Providers.DefaultAccessLifetime);
        tokens.RefreshExpiresAt.ShouldBe(Now.AddDays(1));
    }

    [Fact]
    public void SimpleJwt_opaque_refresh_token_without_a_default_lifetime_has_no_known_expiry()
    {
        var tokens = Dialect.MapLogIn(200, """{"access": "opaque-a", "refresh": "opaque-r"}""", Now, Provider)
            .ShouldBeOfType<Granted>().Tokens;

        tokens.RefreshExpiresAt.ShouldBeNull();
    }

    private static string Jwt(long exp)
    {
        static string Part(string json) => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return $"{Part("""{"alg":"HS256","typ":"JWT"}""")}.{Part($$"""{"token_type":"access","exp":{{exp}}}""")}.signature";
    }
}
