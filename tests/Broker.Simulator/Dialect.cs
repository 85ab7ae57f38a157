namespace Broker.Simulator;

/// <summary>
/// Which endpoint issued a token. A refresh token is only accepted by the dialect that issued it, and
/// <c>/whoami</c> reports the name, spelled as the broker spells its dialects.
/// </summary>
internal enum Dialect
{
    SlideRule,
    SimpleJwt,
    Keycloak,
    OAuth2Password,
    OAuth2ClientCredentials,
}

internal static class DialectNames
{
    public static string ToName(this Dialect dialect) => dialect switch
    {
        Dialect.SlideRule => "sliderule",
        Dialect.SimpleJwt => "simplejwt",
        Dialect.Keycloak => "keycloak",
        Dialect.OAuth2Password => "oauth2-password",
        Dialect.OAuth2ClientCredentials => "oauth2-client-credentials",
        _ => throw new ArgumentOutOfRangeException(nameof(dialect)),
    };
}
