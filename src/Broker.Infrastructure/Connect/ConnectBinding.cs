using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Broker.Domain;

namespace Broker.Infrastructure.Connect;

/// <summary>
/// What a connect attempt is bound to: the SHA-256 of every setting of the account and its provider that the
/// authorization URL or the code exchange depends on. Any admin change of them (another client id, scope, secret,
/// provider, URL, dialect) gives another binding, and the older link no longer connects the account. Tokens and
/// state are left out: a refresh while a person consents does not end their link. (Re-encrypting the secrets
/// changes their ciphertext, and so ends pending links too; a new link is one call away.)
/// </summary>
public static class ConnectBinding
{
    public static byte[] Of(Account account, Provider provider) =>
        SHA256.HashData(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new object?[]
        {
            account.Id, account.ProviderId, account.Username, account.PasswordEncrypted, account.OrgName, account.ClientId,
            account.ClientSecretEncrypted, account.Scope,
            provider.Id, provider.Dialect.ToName(), provider.TokenUrl, provider.AuthorizationUrl,
            provider.AuthorizationParameters?.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new[] { p.Key, p.Value }),
            provider.RefreshUrl, provider.ClientId, provider.ClientSecretEncrypted, provider.ClientAuthentication.ToString(),
            provider.Scope, provider.UpdatedAt.ToUnixTimeMilliseconds(),
        })));
}
