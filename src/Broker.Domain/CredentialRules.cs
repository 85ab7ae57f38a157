namespace Broker.Domain;

/// <summary>Which credentials are set for an account, on it or on its provider (never their values).</summary>
public sealed record CredentialPresence(bool Username, bool Password, bool OrgName, bool ClientId, bool ClientSecret);

/// <summary>
/// The credentials each dialect logs in with. Checked when an account is written, when a provider change (its
/// dialect, or a client id or secret its accounts fall back on) would leave an account unable to log in, and by
/// the token issuer before any login: an account whose secrets were cleared (docs/providers.md, "Where secrets
/// go") is never sent upstream without them.
/// </summary>
public static class CredentialRules
{
    /// <summary>The fields a login in this dialect needs and that are not set.</summary>
    public static IEnumerable<string> Missing(Dialect dialect, CredentialPresence present)
    {
        if (dialect.UsesPassword())
        {
            if (!present.Username) yield return "username";
            if (!present.Password) yield return "password";
        }
        if (dialect == Dialect.SlideRule && !present.OrgName) yield return "org_name";
        if (dialect is Dialect.OAuth2Password or Dialect.OAuth2ClientCredentials or Dialect.OAuth2AuthorizationCode && !present.ClientId) yield return "client_id";
        if (dialect == Dialect.OAuth2ClientCredentials && !present.ClientSecret) yield return "client_secret";
    }

    /// <summary>
    /// The fields an account must have to be stored: for a dialect that refreshes, only those its refresh request
    /// sends (the client id of oauth2-password and oauth2-authorization-code); the rest of what a login needs may be left out, and the account is
    /// then refresh-only (<see cref="CanLogIn"/> false), living on an imported refresh token. A dialect without
    /// refresh needs everything it logs in with.
    /// </summary>
    public static IEnumerable<string> Required(Dialect dialect, CredentialPresence present) => dialect.CanRefresh()
        ? Missing(dialect, present).Where(field => field == "client_id" && dialect is Dialect.OAuth2Password or Dialect.OAuth2AuthorizationCode)
        : Missing(dialect, present);

    /// <summary>
    /// <see cref="Required"/>, and all a login needs once a password is <paramref name="entered"/>: an admin who
    /// enters one means the account to log in, and a login without the rest (org_name, say) would only fail upstream.
    /// Without a password the account is a valid refresh-only one, and its username and org_name only name it.
    /// </summary>
    public static IEnumerable<string> RequiredOnWrite(Dialect dialect, CredentialPresence present, CredentialPresence entered) =>
        dialect.UsesPassword() && entered.Password
            ? Required(dialect, present).Union(Missing(dialect, present))
            : Required(dialect, present);

    /// <summary>What a stored account has, with the provider's client id and secret as its fallbacks.</summary>
    public static CredentialPresence Of(Account account, bool providerHasClientId, bool providerHasClientSecret) => new(
        !string.IsNullOrEmpty(account.Username),
        account.PasswordEncrypted is not null,
        !string.IsNullOrEmpty(account.OrgName),
        !string.IsNullOrEmpty(account.ClientId) || providerHasClientId,
        account.ClientSecretEncrypted is not null || providerHasClientSecret);

    /// <summary>What a login of this account on this provider needs and is not stored.</summary>
    public static IEnumerable<string> Missing(Account account, Provider provider) =>
        Missing(provider.Dialect, Of(account, !string.IsNullOrEmpty(provider.ClientId), provider.ClientSecretEncrypted is not null));

    /// <summary>Whether the broker can log this account in again by itself; if not, a refresh token that dies needs a person.</summary>
    public static bool CanLogIn(Account account, Provider provider) => !Missing(account, provider).Any() && provider.Dialect.LogsIn();

    /// <summary>
    /// The one rule for write-only fields on PUT and PATCH: null (absent) keeps the stored secret, "" removes it,
    /// anything else replaces it. So a body copied from a GET, which has no secrets, does not wipe them.
    /// </summary>
    public static bool SecretAfterWrite(string? written, bool storedNow) => written switch
    {
        null => storedNow,
        "" => false,
        _ => true,
    };
}
