using Broker.Domain;
using Broker.Infrastructure.Upstream.Dialects;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.UnitTests.Dialects;

/// <summary>What every dialect answers alike: transient failures, unexpected statuses, unreadable success bodies.</summary>
public class CommonMappingTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private static readonly Dialect[] AllDialects = Enum.GetValues<Dialect>();
    private static readonly Dialect[] RefreshingDialects = AllDialects.Where(d => d.CanRefresh()).ToArray();

    public static TheoryData<Dialect, int> TransientLogIns => Cross(AllDialects, [500, 502, 503, 504, 429, 408]);
    public static TheoryData<Dialect, int> TransientRefreshes => Cross(RefreshingDialects, [500, 502, 503, 504, 429, 408]);
    public static TheoryData<Dialect, int> UnexpectedLogIns => Cross(AllDialects, [301, 302, 415]);
    public static TheoryData<Dialect, int> UnexpectedRefreshes => Cross(RefreshingDialects, [301, 302, 415]);
    public static TheoryData<Dialect, int> MissingLogInEndpoints => Cross(AllDialects, [404, 405]);
    public static TheoryData<Dialect, int> MissingRefreshEndpoints => Cross(RefreshingDialects, [404, 405]);
    public static TheoryData<Dialect, string> UnreadableSuccesses =>
        Cross(AllDialects, ["", "not json", "<html><body>Welcome</body></html>", "[]", "null", "\"access\"", """{"access": 42, "access_token": 42}"""]);

    [Theory]
    [MemberData(nameof(TransientLogIns))]
    public void Server_errors_rate_limits_and_request_timeouts_make_the_login_unavailable(Dialect dialect, int status)
    {
        var outcome = DialectClient.For(dialect).MapLogIn(status, "<html>Bad Gateway</html>", Now, Providers.For(dialect));

        var unavailable = outcome.ShouldBeOfType<Unavailable>();
        unavailable.Status.ShouldBe(status);
        unavailable.TimedOut.ShouldBeFalse();
        unavailable.Detail.ShouldBe($"the upstream answered HTTP {status}");
    }

    [Theory]
    [MemberData(nameof(TransientRefreshes))]
    public void Server_errors_rate_limits_and_request_timeouts_make_the_refresh_unavailable(Dialect dialect, int status)
    {
        DialectClient.For(dialect).MapRefresh(status, "", Now, Providers.For(dialect)).ShouldBeOfType<Unavailable>().Status.ShouldBe(status);
    }

    [Fact]
    public void Rate_limited_answer_carries_its_retry_after()
    {
        var outcome = DialectClient.For(Dialect.SlideRule).MapLogIn(429, """{"detail": "Request was throttled."}""", Now, Providers.SlideRule(), TimeSpan.FromSeconds(30));

        var unavailable = outcome.ShouldBeOfType<Unavailable>();
        unavailable.RetryAfter.ShouldBe(TimeSpan.FromSeconds(30));
        unavailable.Detail.ShouldBe("the upstream answered HTTP 429: Request was throttled.");
    }

    [Fact]
    public void Server_error_even_with_an_auth_looking_body_is_unavailable_not_a_rejection()
    {
        DialectClient.For(Dialect.OAuth2Password).MapLogIn(503, Seed.OAuth2InvalidGrant, Now, Providers.OAuth2Password())
            .ShouldBeOfType<Unavailable>();
    }

    [Theory]
    [MemberData(nameof(UnexpectedLogIns))]
    public void Unexpected_statuses_on_login_are_protocol_errors(Dialect dialect, int status)
    {
        DialectClient.For(dialect).MapLogIn(status, "", Now, Providers.For(dialect)).ShouldBeOfType<ProtocolError>().Status.ShouldBe(status);
    }

    [Theory]
    [MemberData(nameof(UnexpectedRefreshes))]
    public void Unexpected_statuses_on_refresh_are_protocol_errors(Dialect dialect, int status)
    {
        DialectClient.For(dialect).MapRefresh(status, "", Now, Providers.For(dialect)).ShouldBeOfType<ProtocolError>().Status.ShouldBe(status);
    }

    [Theory]
    [MemberData(nameof(MissingLogInEndpoints))]
    public void Not_found_or_method_not_allowed_on_login_names_the_token_url(Dialect dialect, int status)
    {
        var provider = Providers.For(dialect);
        var outcome = DialectClient.For(dialect).MapLogIn(status, "<html>Not Found</html>", Now, provider);

        var notFound = outcome.ShouldBeOfType<EndpointNotFound>();
        notFound.Status.ShouldBe(status);
        notFound.Kind.ShouldBe("endpoint_not_found");
        notFound.Detail.ShouldStartWith($"{provider.TokenUrl.GetLeftPart(UriPartial.Path)} answered HTTP {status}: the provider's token_url is probably wrong");
        notFound.Detail.ShouldNotContain("Not Found");
    }

    [Theory]
    [MemberData(nameof(MissingRefreshEndpoints))]
    public void Not_found_or_method_not_allowed_on_refresh_names_the_refresh_url(Dialect dialect, int status)
    {
        var provider = Providers.For(dialect);
        var outcome = DialectClient.For(dialect).MapRefresh(status, "", Now, provider);

        outcome.ShouldBeOfType<EndpointNotFound>().Detail.ShouldStartWith($"{RefreshUrls.For(provider)!.GetLeftPart(UriPartial.Path)} answered HTTP {status}");
    }

    [Theory]
    [MemberData(nameof(UnreadableSuccesses))]
    public void Success_without_a_readable_access_token_is_a_protocol_error(Dialect dialect, string body)
    {
        DialectClient.For(dialect).MapLogIn(200, body, Now, Providers.For(dialect)).ShouldBeOfType<ProtocolError>().Status.ShouldBe(200);
    }

    [Fact]
    public void Long_upstream_error_text_is_cut_to_one_short_line()
    {
        var body = $$"""{"detail": "first line\nsecond line {{new string('x', 500)}}"}""";

        var detail = DialectClient.For(Dialect.SimpleJwt).MapLogIn(401, body, Now, Providers.SimpleJwt()).Detail;

        detail.Length.ShouldBeLessThanOrEqualTo(200);
        detail.ShouldStartWith("first line second line xxx");
        detail.ShouldEndWith("…");
        detail.ShouldNotContain("\n");
    }

    [Fact]
    public void Unparseable_expiry_fields_fall_through_to_the_next_source()
    {
        const string body = """{"exp": "soon", "expires_in": "later", "access_lifetime": -5, "access": "opaque", "refresh": "r"}""";

        var tokens = DialectClient.For(Dialect.SlideRule).MapLogIn(200, body, Now, Providers.SlideRule()).ShouldBeOfType<Granted>().Tokens;

        tokens.AccessExpiresAt.ShouldBe(Now + Providers.DefaultAccessLifetime);
    }

    [Fact]
    public void Absurd_lifetimes_are_ignored_rather_than_overflowing()
    {
        const string body = """{"access_token": "opaque", "expires_in": 1e300, "refresh_token": "r", "refresh_expires_in": 1e300}""";

        var tokens = DialectClient.For(Dialect.OAuth2Password).MapLogIn(200, body, Now, Providers.OAuth2Password()).ShouldBeOfType<Granted>().Tokens;

        tokens.AccessExpiresAt.ShouldBe(Now + Providers.DefaultAccessLifetime);
        tokens.RefreshExpiresAt.ShouldBeNull();
    }

    private static TheoryData<Dialect, T> Cross<T>(IEnumerable<Dialect> dialects, T[] values)
    {
        var data = new TheoryData<Dialect, T>();
        foreach (var dialect in dialects)
        foreach (var value in values)
            data.Add(dialect, value);
        return data;
    }
}
