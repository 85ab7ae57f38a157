using Broker.Domain;
using Broker.Infrastructure.Security;

namespace Broker.Infrastructure.Tokens;

/// <summary>
/// The one place an account's credentials are decrypted for an upstream call (a login, a refresh, a code
/// exchange), with the provider's client id, secret and scope where the account has none (<see cref="Account.ClientIdOn"/>).
/// </summary>
public static class UpstreamCredentials
{
    public static AccountCredentials For(Account account, Provider provider, SecretProtector secrets) => new(
        account.Username,
        secrets.UnprotectOrNull(SecretKind.Password, account.PasswordEncrypted),
        account.OrgName,
        account.ClientIdOn(provider),
        secrets.UnprotectOrNull(SecretKind.ClientSecret, account.ClientSecretEncryptedOn(provider)),
        account.ScopeOn(provider));
}
