namespace Broker.Domain;

/// <summary>The wire protocol an upstream speaks for logging in and refreshing.</summary>
public enum Dialect
{
    SlideRule,
    SimpleJwt,
    Keycloak,
    OAuth2Password,
    OAuth2ClientCredentials,
    OAuth2AuthorizationCode,
}

public static class DialectNames
{
    public const string SlideRule = "sliderule";
    public const string SimpleJwt = "simplejwt";
    public const string Keycloak = "keycloak";
    public const string OAuth2Password = "oauth2-password";
    public const string OAuth2ClientCredentials = "oauth2-client-credentials";
    public const string OAuth2AuthorizationCode = "oauth2-authorization-code";

    public static readonly IReadOnlyList<string> All =
        [SlideRule, SimpleJwt, Keycloak, OAuth2Password, OAuth2ClientCredentials, OAuth2AuthorizationCode];

    public static string ToName(this Dialect dialect) => dialect switch
    {
        Dialect.SlideRule => SlideRule,
        Dialect.SimpleJwt => SimpleJwt,
        Dialect.Keycloak => Keycloak,
        Dialect.OAuth2Password => OAuth2Password,
        Dialect.OAuth2ClientCredentials => OAuth2ClientCredentials,
        Dialect.OAuth2AuthorizationCode => OAuth2AuthorizationCode,
        _ => throw new ArgumentOutOfRangeException(nameof(dialect)),
    };

    public static bool TryParse(string? name, out Dialect dialect)
    {
        switch (name)
        {
            case SlideRule: dialect = Dialect.SlideRule; return true;
            case SimpleJwt: dialect = Dialect.SimpleJwt; return true;
            case Keycloak: dialect = Dialect.Keycloak; return true;
            case OAuth2Password: dialect = Dialect.OAuth2Password; return true;
            case OAuth2ClientCredentials: dialect = Dialect.OAuth2ClientCredentials; return true;
            case OAuth2AuthorizationCode: dialect = Dialect.OAuth2AuthorizationCode; return true;
            default: dialect = default; return false;
        }
    }

    public static Dialect Parse(string name) =>
        TryParse(name, out var dialect) ? dialect : throw new ArgumentException($"Unknown dialect '{name}'.", nameof(name));

    /// <summary>Whether the dialect logs in with a username and password (all but client credentials and authorization code).</summary>
    public static bool UsesPassword(this Dialect dialect) => dialect is not (Dialect.OAuth2ClientCredentials or Dialect.OAuth2AuthorizationCode);

    /// <summary>Whether the dialect has a refresh request at all.</summary>
    public static bool CanRefresh(this Dialect dialect) => dialect != Dialect.OAuth2ClientCredentials;

    /// <summary>
    /// Whether the broker can log in by itself at all. An authorization-code account is connected once by a person
    /// consenting in a browser; from then on only its refresh token keeps it alive.
    /// </summary>
    public static bool LogsIn(this Dialect dialect) => dialect != Dialect.OAuth2AuthorizationCode;
}
