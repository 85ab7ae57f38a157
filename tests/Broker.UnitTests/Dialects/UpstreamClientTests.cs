using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Broker.Domain;
using Broker.Infrastructure.Outbound;
using Broker.Infrastructure.Upstream;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.UnitTests.Dialects;

/// <summary>The requests each dialect sends, and how sending fails, through a stubbed HTTP handler.</summary>
public class UpstreamClientTests
{
    private const string Password = "pa ss:w+rd&é";
    private const string ClientSecret = "cl!ent:s3cret+/";
    private const string RefreshToken = "the-refresh-token-0123456789";

    private static readonly AccountCredentials User = new("ceugarteblair", Password, "UofMDTest", null, null, null);
    private static readonly AccountCredentials ConfidentialClient = new("alice", Password, null, "broker app", ClientSecret, null);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly StubHandler _handler = new();

    private UpstreamClient Client(TimeSpan? timeout = null) => Client(new HttpClient(_handler), timeout);

    private UpstreamClient Client(HttpClient http, TimeSpan? timeout = null, bool allowPlainHttp = false) =>
        new(http, _time, Options.Create(new UpstreamOptions { Timeout = timeout ?? TimeSpan.FromSeconds(10), AllowPlainHttp = allowPlainHttp ? ["*"] : [] }));

    // ---- SlideRule, simplejwt, Keycloak: JSON ----

    [Fact]
    public async Task SlideRule_login_posts_username_password_and_org_name_as_json()
    {
        _handler.Answer(HttpStatusCode.OK, Seed.SlideRuleLogIn);

        var outcome = await Client().LogInAsync(Providers.SlideRule(), User, CancellationToken.None);

        outcome.ShouldBeOfType<Granted>();
        var request = _handler.Single;
        request.Method.ShouldBe(HttpMethod.Post);
        request.Uri.ShouldBe(new Uri("https://ps.slideruleearth.io/api/org_token/"));
        request.Accept.ShouldBe("application/json");
        request.JsonFieldNames.ShouldBe(["username", "password", "org_name"]);
        request.Json.GetProperty("username").GetString().ShouldBe("ceugarteblair");
        request.Json.GetProperty("password").GetString().ShouldBe(Password);
        request.Json.GetProperty("org_name").GetString().ShouldBe("UofMDTest");
        request.Authorization.ShouldBeNull();
    }

    [Fact]
    public async Task SlideRule_refresh_posts_the_refresh_token_to_the_refresh_url()
    {
        _handler.Answer(HttpStatusCode.OK, Seed.SlideRuleRefresh);

        var outcome = await Client().RefreshAsync(Providers.SlideRule(), User, RefreshToken, CancellationToken.None);

        outcome.ShouldBeOfType<Granted>();
        var request = _handler.Single;
        request.Uri.ShouldBe(new Uri("https://ps.slideruleearth.io/api/org_token/refresh/"));
        request.JsonFieldNames.ShouldBe(["refresh"]);
        request.Json.GetProperty("refresh").GetString().ShouldBe(RefreshToken);
    }

    [Fact]
    public async Task SimpleJwt_login_posts_only_username_and_password()
    {
        _handler.Answer(HttpStatusCode.OK, Seed.SimpleJwtObtain);

        await Client().LogInAsync(Providers.SimpleJwt(), User, CancellationToken.None);

        _handler.Single.Uri.ShouldBe(new Uri("https://be.progeny.tech/api/v3/accounts/token/obtain/"));
        _handler.Single.JsonFieldNames.ShouldBe(["username", "password"]);
    }

    [Fact]
    public async Task SimpleJwt_refresh_goes_to_token_refresh()
    {
        _handler.Answer(HttpStatusCode.OK, Seed.SimpleJwtRefresh);

        await Client().RefreshAsync(Providers.SimpleJwt(), User, RefreshToken, CancellationToken.None);

        _handler.Single.Uri.ShouldBe(new Uri("https://be.progeny.tech/api/v3/accounts/token/refresh/"));
        _handler.Single.JsonFieldNames.ShouldBe(["refresh"]);
    }

    [Fact]
    public async Task Keycloak_login_posts_username_and_password_as_json()
    {
        _handler.Answer(HttpStatusCode.OK, Seed.KeycloakToken);

        var outcome = await Client().LogInAsync(Providers.Keycloak(), User, CancellationToken.None);

        outcome.ShouldBeOfType<Granted>().Tokens.AccessExpiresAt.ShouldBe(_time.GetUtcNow().AddSeconds(600));
        _handler.Single.Uri.ShouldBe(new Uri("https://api.vivacitylabs.com/get-token"));
        _handler.Single.JsonFieldNames.ShouldBe(["username", "password"]);
    }

    [Fact]
    public async Task Keycloak_refresh_posts_refresh_token_to_the_sibling_refresh_token_url()
    {
        _handler.Answer(HttpStatusCode.OK, Seed.KeycloakToken);

        await Client().RefreshAsync(Providers.Keycloak(), User, RefreshToken, CancellationToken.None);

        _handler.Single.Uri.ShouldBe(new Uri("https://api.vivacitylabs.com/refresh-token"));
        _handler.Single.JsonFieldNames.ShouldBe(["refresh_token"]);
        _handler.Single.Json.GetProperty("refresh_token").GetString().ShouldBe(RefreshToken);
    }

    [Fact]
    public async Task Keycloak_refresh_field_name_is_configurable()
    {
        _handler.Answer(HttpStatusCode.OK, Seed.KeycloakToken);

        await Client().RefreshAsync(Providers.Keycloak(refreshTokenField: "refresh"), User, RefreshToken, CancellationToken.None);

        _handler.Single.JsonFieldNames.ShouldBe(["refresh"]);
    }

    // ---- OAuth2: forms and client authentication ----

    [Fact]
    public async Task OAuth2_password_login_is_a_form_with_http_basic_client_authentication()
    {
        _handler.Answer(HttpStatusCode.OK, Seed.OAuth2Token);

        var outcome = await Client().LogInAsync(Providers.OAuth2Password(), ConfidentialClient, CancellationToken.None);

        outcome.ShouldBeOfType<Granted>().Tokens.AccessExpiresAt.ShouldBe(_time.GetUtcNow().AddSeconds(3600));
        var request = _handler.Single;
        request.Method.ShouldBe(HttpMethod.Post);
        request.Uri.ShouldBe(new Uri("https://dot.example/o/token/"));
        request.Accept.ShouldBe("application/json");
        request.Form.ShouldBe(new Dictionary<string, string>
        {
            ["grant_type"] = "password",
            ["username"] = "alice",
            ["password"] = Password,
        }, ignoreOrder: true);
        request.Authorization.ShouldNotBeNull().Scheme.ShouldBe("Basic");
        // RFC 6749 §2.3.1: form-urlencode id and secret, then join and base64.
        Encoding.UTF8.GetString(Convert.FromBase64String(request.Authorization.Parameter!))
            .ShouldBe("broker+app:cl%21ent%3As3cret%2B%2F");
    }

    [Fact]
    public async Task OAuth2_password_scope_is_sent_when_set()
    {
        _handler.Answer(HttpStatusCode.OK, Seed.OAuth2Token);

        await Client().LogInAsync(Providers.OAuth2Password(), ConfidentialClient with { Scope = "read write" }, CancellationToken.None);

        _handler.Single.Form["scope"].ShouldBe("read write");
        _handler.Single.Body!.ShouldContain("scope=read+write");
    }

    [Fact]
    public async Task OAuth2_client_authentication_in_the_body_sends_id_and_secret_as_form_fields()
    {
        _handler.Answer(HttpStatusCode.OK, Seed.OAuth2Token);

        await Client().LogInAsync(Providers.OAuth2Password(ClientAuthentication.Body), ConfidentialClient, CancellationToken.None);

        var request = _handler.Single;
        request.Authorization.ShouldBeNull();
        request.Form["client_id"].ShouldBe("broker app");
        request.Form["client_secret"].ShouldBe(ClientSecret);
    }

    [Fact]
    public async Task OAuth2_public_client_sends_its_id_in_the_body_and_no_authorization_header()
    {
        _handler.Answer(HttpStatusCode.OK, Seed.KeycloakToken);
        var publicClient = new AccountCredentials("demo-user", Password, null, "sensor-data-client", null, null);

        await Client().LogInAsync(Providers.OAuth2Password(), publicClient, CancellationToken.None);

        var request = _handler.Single;
        request.Authorization.ShouldBeNull();
        request.Form["client_id"].ShouldBe("sensor-data-client");
        request.Form.ShouldNotContainKey("client_secret");
    }

    [Fact]
    public async Task OAuth2_refresh_is_a_refresh_token_grant_to_the_token_url()
    {
        _handler.Answer(HttpStatusCode.OK, Seed.OAuth2Token);

        var outcome = await Client().RefreshAsync(Providers.OAuth2Password(), ConfidentialClient with { Scope = "read" }, RefreshToken, CancellationToken.None);

        outcome.ShouldBeOfType<Granted>();
        var request = _handler.Single;
        request.Uri.ShouldBe(new Uri("https://dot.example/o/token/"));
        request.Form.ShouldBe(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = RefreshToken,
            ["scope"] = "read",
        }, ignoreOrder: true);
        request.Authorization.ShouldNotBeNull().Scheme.ShouldBe("Basic");
    }

    [Fact]
    public async Task OAuth2_reused_refresh_token_is_rejected()
    {
        _handler.Answer(HttpStatusCode.BadRequest, """{"error": "invalid_grant"}""");

        var outcome = await Client().RefreshAsync(Providers.OAuth2Password(), ConfidentialClient, RefreshToken, CancellationToken.None);

        outcome.ShouldBeOfType<RefreshRejected>().Status.ShouldBe(400);
    }

    [Fact]
    public async Task Client_credentials_login_is_a_client_credentials_grant()
    {
        _handler.Answer(HttpStatusCode.OK, """{"access_token": "cc", "expires_in": 300, "token_type": "Bearer"}""");
        var client = new AccountCredentials(null, null, null, "svc", ClientSecret, "api.read");

        var outcome = await Client().LogInAsync(Providers.OAuth2ClientCredentials(), client, CancellationToken.None);

        outcome.ShouldBeOfType<Granted>().Tokens.RefreshToken.ShouldBeNull();
        _handler.Single.Form.ShouldBe(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["scope"] = "api.read",
        }, ignoreOrder: true);
        Encoding.UTF8.GetString(Convert.FromBase64String(_handler.Single.Authorization!.Parameter!))
            .ShouldBe("svc:cl%21ent%3As3cret%2B%2F");
    }

    [Fact]
    public async Task Client_credentials_refresh_does_not_call_out()
    {
        var outcome = await Client().RefreshAsync(
            Providers.OAuth2ClientCredentials(), new AccountCredentials(null, null, null, "svc", ClientSecret, null), RefreshToken, CancellationToken.None);

        outcome.ShouldBeOfType<RefreshRejected>();
        _handler.Requests.ShouldBeEmpty();
    }

    // ---- Sending: timeouts, connections, cancellation, headers, size ----

    [Fact]
    public async Task Upstream_that_does_not_answer_in_time_is_unavailable_with_timed_out()
    {
        _handler.Answer(async ct =>
        {
            _time.Advance(TimeSpan.FromMilliseconds(200)); // the deadline passes while the upstream says nothing
            await Task.Delay(Timeout.Infinite, ct);
            throw new InvalidOperationException("unreachable");
        });

        var outcome = await Client(TimeSpan.FromMilliseconds(200)).LogInAsync(Providers.SlideRule(), User, CancellationToken.None);

        var unavailable = outcome.ShouldBeOfType<Unavailable>();
        unavailable.TimedOut.ShouldBeTrue();
        unavailable.Status.ShouldBeNull();
        outcome.Kind.ShouldBe("timeout");
    }

    [Fact]
    public async Task Caller_cancellation_propagates_instead_of_becoming_an_outcome()
    {
        _handler.Hang();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        var exception = await Record.ExceptionAsync(() => Client().RefreshAsync(Providers.SlideRule(), User, RefreshToken, cts.Token));

        exception.ShouldBeAssignableTo<OperationCanceledException>();
    }

    [Fact]
    public async Task Refused_connection_is_unavailable()
    {
        // A port that was just free: nothing listens there.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var provider = new ProviderEndpoint(Dialect.SimpleJwt, new Uri($"http://127.0.0.1:{port}/api/token/"), null, TimeSpan.FromMinutes(5), null);

        using var http = new HttpClient();
        var outcome = await Client(http, allowPlainHttp: true).LogInAsync(provider, User, CancellationToken.None);

        var unavailable = outcome.ShouldBeOfType<Unavailable>();
        unavailable.TimedOut.ShouldBeFalse();
        unavailable.Detail.ShouldBe("could not reach the upstream (ConnectionError)");
    }

    [Fact]
    public async Task Plain_http_url_not_allowed_for_the_provider_is_refused_without_a_request()
    {
        var provider = Providers.SimpleJwt() with { TokenUrl = new Uri("http://idp.example/api/token/"), Name = "progeny" };

        var outcome = await Client().LogInAsync(provider, User, CancellationToken.None);

        outcome.ShouldBeOfType<DestinationRefused>().Detail.ShouldContain("Broker:Upstream:AllowPlainHttp");
        outcome.Kind.ShouldBe("destination_refused");
        _handler.Requests.ShouldBeEmpty();
    }

    [Fact]
    public async Task Refused_address_from_the_connect_callback_is_destination_refused_not_unavailable()
    {
        _handler.Answer(_ => throw new HttpRequestException(HttpRequestError.ConnectionError, "wrapped (10.1.2.3:443)",
            new OutboundDestinationRefusedException("the upstream's address 10.1.2.3 is in a network the broker may not call (private)")));

        var outcome = await Client().LogInAsync(Providers.OAuth2Password(), ConfidentialClient, CancellationToken.None);

        outcome.ShouldBeOfType<DestinationRefused>().Detail.ShouldStartWith("the upstream's address 10.1.2.3");
    }

    [Fact]
    public async Task Connection_failure_reported_by_the_handler_is_unavailable()
    {
        _handler.Answer(_ => throw new HttpRequestException(HttpRequestError.NameResolutionError, "No such host is known. (idp.example:443)"));

        var outcome = await Client().LogInAsync(Providers.OAuth2Password(), ConfidentialClient, CancellationToken.None);

        outcome.ShouldBeOfType<Unavailable>().Detail.ShouldBe("could not reach the upstream (NameResolutionError)");
    }

    [Fact]
    public async Task Rate_limit_retry_after_in_seconds_is_honoured()
    {
        _handler.Answer(HttpStatusCode.TooManyRequests, "", r => r.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(30)));

        var outcome = await Client().LogInAsync(Providers.SimpleJwt(), User, CancellationToken.None);

        var unavailable = outcome.ShouldBeOfType<Unavailable>();
        unavailable.Status.ShouldBe(429);
        unavailable.RetryAfter.ShouldBe(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Retry_after_as_a_date_counts_from_now()
    {
        var at = _time.GetUtcNow().AddMinutes(2);
        _handler.Answer(HttpStatusCode.ServiceUnavailable, "", r => r.Headers.RetryAfter = new RetryConditionHeaderValue(at));

        var outcome = await Client().LogInAsync(Providers.SimpleJwt(), User, CancellationToken.None);

        outcome.ShouldBeOfType<Unavailable>().RetryAfter.ShouldBe(TimeSpan.FromMinutes(2));
    }

    [Fact]
    public async Task Oversized_answer_is_a_protocol_error()
    {
        _handler.Answer(HttpStatusCode.OK, $$"""{"access": "{{new string('a', 2 << 20)}}"}""");

        var outcome = await Client().LogInAsync(Providers.SimpleJwt(), User, CancellationToken.None);

        outcome.ShouldBeOfType<ProtocolError>().Status.ShouldBe(200);
    }

    [Fact]
    public async Task Relative_lifetimes_count_from_when_the_request_was_sent()
    {
        var sentAt = _time.GetUtcNow();
        _handler.Answer(_ =>
        {
            _time.Advance(TimeSpan.FromSeconds(3)); // a slow upstream
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(Seed.OAuth2Token) });
        });

        var outcome = await Client().LogInAsync(Providers.OAuth2Password(), ConfidentialClient, CancellationToken.None);

        outcome.ShouldBeOfType<Granted>().Tokens.AccessExpiresAt.ShouldBe(sentAt.AddSeconds(3600));
    }

    // ---- Secrets stay out of Detail ----

    [Fact]
    public async Task Detail_never_repeats_a_password_the_upstream_echoes()
    {
        _handler.Answer(HttpStatusCode.Unauthorized, $$"""{"detail": "Wrong password '{{Password}}' for ceugarteblair"}""");

        var outcome = await Client().LogInAsync(Providers.SlideRule(), User, CancellationToken.None);

        outcome.ShouldBeOfType<CredentialsRejected>();
        outcome.Detail.ShouldNotContain(Password);
        outcome.Detail.ShouldBe("Wrong password '[redacted]' for ceugarteblair");
    }

    [Fact]
    public async Task Detail_never_repeats_a_refresh_token_or_client_secret_the_upstream_echoes()
    {
        _handler.Answer(HttpStatusCode.BadRequest,
            $$"""{"error": "invalid_grant", "error_description": "refresh token {{RefreshToken}} for client secret {{ClientSecret}} is revoked"}""");

        var outcome = await Client().RefreshAsync(Providers.OAuth2Password(), ConfidentialClient, RefreshToken, CancellationToken.None);

        outcome.ShouldBeOfType<RefreshRejected>();
        outcome.Detail.ShouldNotContain(RefreshToken);
        outcome.Detail.ShouldNotContain(ClientSecret);
    }

    public static TheoryData<Dialect, int, string> ErrorAnswers => new()
    {
        { Dialect.SlideRule, 401, Seed.SlideRuleBadCredentials },
        { Dialect.SlideRule, 403, Seed.SlideRuleInvalidOrganization },
        { Dialect.SlideRule, 403, Seed.SlideRuleBlacklisted },
        { Dialect.SlideRule, 403, Seed.SlideRuleNotAMember },
        { Dialect.SlideRule, 404, Seed.SlideRuleNotFound },
        { Dialect.SlideRule, 200, Seed.SlideRuleInactive },
        { Dialect.SimpleJwt, 401, Seed.SimpleJwtNoActiveAccount },
        { Dialect.SimpleJwt, 400, Seed.SimpleJwtFieldErrors },
        { Dialect.SimpleJwt, 401, Seed.SimpleJwtTokenNotValid },
        { Dialect.Keycloak, 403, """{"error":"forbidden"}""" },
        { Dialect.OAuth2Password, 400, Seed.OAuth2InvalidGrant },
        { Dialect.OAuth2Password, 401, """{"error":"invalid_client"}""" },
        { Dialect.OAuth2Password, 200, """{"refresh_token": "the-refresh-token-0123456789"}""" },
        { Dialect.OAuth2ClientCredentials, 401, """{"error":"invalid_client"}""" },
        { Dialect.OAuth2ClientCredentials, 502, "<html>Bad Gateway</html>" },
    };

    [Theory]
    [MemberData(nameof(ErrorAnswers))]
    public async Task Detail_of_every_documented_failure_holds_no_secret(Dialect dialect, int status, string body)
    {
        _handler.Answer((HttpStatusCode)status, body).Answer((HttpStatusCode)status, body);
        var client = Client();

        var login = await client.LogInAsync(Providers.For(dialect), ConfidentialClient, CancellationToken.None);
        var refresh = await client.RefreshAsync(Providers.For(dialect), ConfidentialClient, RefreshToken, CancellationToken.None);

        foreach (var outcome in new[] { login, refresh })
        {
            outcome.ShouldNotBeOfType<Granted>();
            outcome.Detail.ShouldNotBeNullOrWhiteSpace();
            outcome.Detail.ShouldNotContain(Password);
            outcome.Detail.ShouldNotContain(ClientSecret);
            outcome.Detail.ShouldNotContain(RefreshToken);
        }
    }
}
