using Broker.Domain;
using Broker.Infrastructure.Upstream.Dialects;

namespace Broker.UnitTests.Dialects;

public class RefreshUrlsTests
{
    [Theory]
    [InlineData(Dialect.SlideRule, "https://ps.slideruleearth.io/api/org_token/", "https://ps.slideruleearth.io/api/org_token/refresh/")]
    [InlineData(Dialect.SlideRule, "https://ps.slideruleearth.io/api/org_token", "https://ps.slideruleearth.io/api/org_token/refresh/")]
    [InlineData(Dialect.SimpleJwt, "https://be.progeny.tech/api/v3/accounts/token/obtain/", "https://be.progeny.tech/api/v3/accounts/token/refresh/")]
    [InlineData(Dialect.SimpleJwt, "https://be.progeny.tech/api/v3/accounts/token/obtain", "https://be.progeny.tech/api/v3/accounts/token/refresh")]
    [InlineData(Dialect.SimpleJwt, "http://localhost:8000/api/token/", "http://localhost:8000/api/token/refresh/")]
    [InlineData(Dialect.Keycloak, "https://api.vivacitylabs.com/get-token", "https://api.vivacitylabs.com/refresh-token")]
    [InlineData(Dialect.Keycloak, "https://h.example/auth/get-token/", "https://h.example/auth/refresh-token/")]
    [InlineData(Dialect.OAuth2Password, "https://dot.example/o/token/", "https://dot.example/o/token/")]
    [InlineData(Dialect.OAuth2Password, "https://kc.example/realms/r/protocol/openid-connect/token", "https://kc.example/realms/r/protocol/openid-connect/token")]
    public void Default_refresh_url_sits_where_the_dialect_puts_it(Dialect dialect, string tokenUrl, string expected)
    {
        RefreshUrls.Default(dialect, new Uri(tokenUrl)).ShouldBe(new Uri(expected));
        RefreshUrls.For(new ProviderEndpoint(dialect, new Uri(tokenUrl), null, TimeSpan.FromMinutes(5), null)).ShouldBe(new Uri(expected));
    }

    [Fact]
    public void Default_refresh_url_keeps_port_query_and_escapes()
    {
        RefreshUrls.Default(Dialect.SlideRule, new Uri("http://127.0.0.1:5001/t%20x/org_token/?tenant=a"))
            .ShouldBe(new Uri("http://127.0.0.1:5001/t%20x/org_token/refresh/?tenant=a"));
    }

    [Fact]
    public void Configured_refresh_url_wins()
    {
        var configured = new Uri("https://ps.slideruleearth.io/elsewhere/");

        RefreshUrls.For(Providers.SlideRule(refreshUrl: configured)).ShouldBe(configured);
    }

    [Fact]
    public void Client_credentials_has_no_refresh_url()
    {
        RefreshUrls.For(Providers.OAuth2ClientCredentials()).ShouldBeNull();
        RefreshUrls.Default(Dialect.OAuth2ClientCredentials, new Uri("https://idp.example/token")).ShouldBeNull();
    }
}
