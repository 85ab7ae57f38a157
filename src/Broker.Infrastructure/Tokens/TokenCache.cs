using System.Collections.Concurrent;

namespace Broker.Infrastructure.Tokens;

/// <summary>
/// The decrypted access tokens of recently used accounts, per instance. A hit costs no database round trip;
/// nothing here is needed for correctness (another instance, or a restart, just reads the database). Entries other
/// instances made stale are removed through <see cref="Persistence.CacheInvalidation"/>.
/// </summary>
public sealed class TokenCache
{
    private readonly ConcurrentDictionary<string, CachedToken> _byAccount = new(StringComparer.Ordinal);

    public bool TryGet(string account, out CachedToken token) => _byAccount.TryGetValue(account, out token!);

    public void Set(string account, CachedToken token) => _byAccount[account] = token;

    public void Remove(string account) => _byAccount.TryRemove(account, out _);

    public void Clear() => _byAccount.Clear();

    public int Count => _byAccount.Count;
}

public sealed record CachedToken(
    Guid AccountId,
    string ProviderName,
    string AccessToken,
    string TokenType,
    DateTimeOffset ExpiresAt,
    string TokenHmac,
    DateTimeOffset CachedAt,
    DateTimeOffset? ObtainedAt,
    DateTimeOffset? RefreshExpiresAt)
{
    public override string ToString() => $"CachedToken {{ AccountId = {AccountId}, ExpiresAt = {ExpiresAt:O} }}";
}
