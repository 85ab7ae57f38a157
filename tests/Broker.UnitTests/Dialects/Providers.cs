using Broker.Domain;

namespace Broker.UnitTests.Dialects;

/// <summary>Provider endpoints as the upstreams' public docs give them.</summary>
internal static class Providers
{
    public static readonly TimeSpan DefaultAccessLifetime = TimeSpan.FromMinutes(7);

    public static ProviderEndpoint SlideRule(Uri? refreshUrl = null) =>
        new(Dialect.SlideRule, new Uri("https://ps.slideruleearth.io/api/org_token/"), refreshUrl, DefaultAccessLifetime, null);

    public static ProviderEndpoint SimpleJwt(TimeSpan? defaultRefreshLifetime = null) =>
        new(Dialect.SimpleJwt, new Uri("https://be.progeny.tech/api/v3/accounts/token/obtain/"), null, DefaultAccessLifetime, defaultRefreshLifetime);

    public static ProviderEndpoint Keycloak(string? refreshTokenField = null) =>
        new(Dialect.Keycloak, new Uri("https://api.vivacitylabs.com/get-token"), null, DefaultAccessLifetime, null,
            RefreshTokenField: refreshTokenField);

    public static ProviderEndpoint OAuth2Password(ClientAuthentication clientAuthentication = ClientAuthentication.Basic) =>
        new(Dialect.OAuth2Password, new Uri("https://dot.example/o/token/"), null, DefaultAccessLifetime, null, clientAuthentication);

    public static ProviderEndpoint OAuth2ClientCredentials(ClientAuthentication clientAuthentication = ClientAuthentication.Basic) =>
        new(Dialect.OAuth2ClientCredentials, new Uri("https://idp.example/oauth2/token"), null, DefaultAccessLifetime, null, clientAuthentication);

    public static ProviderEndpoint OAuth2AuthorizationCode(ClientAuthentication clientAuthentication = ClientAuthentication.Basic) =>
        new(Dialect.OAuth2AuthorizationCode, new Uri("https://oauth2.example/token"), null, DefaultAccessLifetime, null, clientAuthentication);

    public static ProviderEndpoint For(Dialect dialect) => dialect switch
    {
        Dialect.SlideRule => SlideRule(),
        Dialect.SimpleJwt => SimpleJwt(),
        Dialect.Keycloak => Keycloak(),
        Dialect.OAuth2Password => OAuth2Password(),
        Dialect.OAuth2ClientCredentials => OAuth2ClientCredentials(),
        Dialect.OAuth2AuthorizationCode => OAuth2AuthorizationCode(),
        _ => throw new ArgumentOutOfRangeException(nameof(dialect)),
    };
}
