using System.Net.Http.Headers;
using Broker.Domain;
using Broker.Infrastructure.Connect;
using Broker.Infrastructure.Upstream.Dialects;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.UnitTests.Dialects;

public class OAuth2AuthorizationCodeDialectTests
{
    private static readonly OAuth2AuthorizationCodeDialect Dialect = OAuth2AuthorizationCodeDialect.Instance;
    private static readonly ProviderEndpoint Provider = Providers.OAuth2AuthorizationCode();
    private static readonly AccountCredentials Client = new(null, null, null, "app", "app-secret", "read offline_access");
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Code_exchange_sends_code_redirect_uri_and_verifier_with_basic_client_authentication()
    {
        using var request = Dialect.BuildCodeExchange(Provider, Client, "the-code", "https://broker.example/oauth/callback", "v".PadRight(43, 'v'));

        request.RequestUri.ShouldBe(Provider.TokenUrl);
        request.Headers.Authorization.ShouldBe(new AuthenticationHeaderValue("Basic", Convert.ToBase64String("app:app-secret"u8.ToArray())));
        var form = await request.Content!.ReadAsStringAsync();
        form.ShouldBe("grant_type=authorization_code&code=the-code&redirect_uri=https%3A%2F%2Fbroker.example%2Foauth%2Fcallback&code_verifier=" + "v".PadRight(43, 'v'));
    }

    [Fact]
    public async Task Refresh_is_the_standard_refresh_token_grant_at_the_token_url()
    {
        using var request = Dialect.BuildRefresh(Provider, Client with { ClientSecret = null }, "the-refresh-token");

        request.RequestUri.ShouldBe(Provider.TokenUrl);
        (await request.Content!.ReadAsStringAsync()).ShouldBe("grant_type=refresh_token&refresh_token=the-refresh-token&client_id=app");
        Dialect.MapRefresh(400, """{"error":"invalid_grant"}""", Now, Provider).ShouldBeOfType<RefreshRejected>();
    }

    [Fact]
    public void The_broker_never_logs_in_with_this_dialect()
    {
        Broker.Domain.Dialect.OAuth2AuthorizationCode.LogsIn().ShouldBeFalse();
        Broker.Domain.Dialect.OAuth2AuthorizationCode.CanRefresh().ShouldBeTrue();
        Broker.Domain.Dialect.OAuth2AuthorizationCode.UsesPassword().ShouldBeFalse();
        Should.Throw<InvalidOperationException>(() => Dialect.BuildLogIn(Provider, Client));
        var provider = new Provider { Name = "p", TokenUrl = "https://oauth2.example/token", Dialect = Broker.Domain.Dialect.OAuth2AuthorizationCode, ClientId = "app" };
        var account = new Account { Name = "a" };
        CredentialRules.Missing(account, provider).ShouldBeEmpty();
        CredentialRules.CanLogIn(account, provider).ShouldBeFalse();
        provider.ClientId = null;
        CredentialRules.Missing(account, provider).ShouldBe(["client_id"]);
    }

    [Fact]
    public void Exchange_answers_map_like_a_login()
    {
        Dialect.MapLogIn(200, Seed.OAuth2Token, Now, Provider).ShouldBeOfType<Granted>().Tokens.RefreshToken.ShouldBe("Y23rwVNSRtLjhy2nIwslJdo3FbAS6d");
        Dialect.MapLogIn(400, """{"error":"invalid_grant"}""", Now, Provider).ShouldBeOfType<CredentialsRejected>();
    }

    [Fact]
    public void Pkce_challenge_is_rfc_7636_s256_and_secrets_are_256_bits()
    {
        // RFC 7636 Appendix B.
        Pkce.Challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").ShouldBe("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        var secret = Pkce.NewSecret();
        secret.Length.ShouldBe(43);
        secret.ShouldAllBe(c => char.IsAsciiLetterOrDigit(c) || c == '-' || c == '_');
        Pkce.NewSecret().ShouldNotBe(secret);
    }
}
