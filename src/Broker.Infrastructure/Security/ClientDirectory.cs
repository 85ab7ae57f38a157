using System.Collections.Concurrent;
using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace Broker.Infrastructure.Security;

/// <summary>
/// Finds the client behind an API key, with its grants, and keeps the answer for a short while so a token fetch
/// costs no database round trip. Admin changes invalidate it on every instance through
/// <see cref="Persistence.CacheInvalidation"/>; should a notification be lost, within <see cref="ClientDirectoryOptions.CacheTtl"/>.
/// Only keys that were found are cached, in a cache of bounded size that evicts the least recently used entries:
/// a flood of made-up keys can neither grow it nor push the real keys out (it is bounded per address before the
/// lookup, see the API's failed-lookup budget).
/// </summary>
public sealed class ClientDirectory(
    IDbContextFactory<BrokerDbContext> contexts,
    TimeProvider time,
    IOptions<ClientDirectoryOptions> options) : IDisposable
{
    private readonly MemoryCache _byKeyHash = new(new MemoryCacheOptions { SizeLimit = options.Value.MaxEntries, CompactionPercentage = 0.1 });
    private readonly ConcurrentDictionary<Flight, Lazy<Task<AuthenticatedClient?>>> _loading = new();
    private long _generation;

    /// <summary>The client of a key this instance has looked up recently, without a database round trip.</summary>
    public bool TryGetCached(string apiKey, out AuthenticatedClient? client) => TryGetCached(ApiKeys.Digest(apiKey), out client);

    private bool TryGetCached(ApiKeyDigest digest, out AuthenticatedClient? client)
    {
        // An entry read before an invalidation is stale even if it has not been evicted yet.
        if (_byKeyHash.TryGetValue(digest, out Entry? entry) && entry!.ExpiresAt > time.GetUtcNow() &&
            entry.Generation == Interlocked.Read(ref _generation))
        {
            client = entry.Client;
            return true;
        }
        client = null;
        return false;
    }

    public async ValueTask<AuthenticatedClient?> FindAsync(string apiKey, CancellationToken ct)
    {
        var digest = ApiKeys.Digest(apiKey);
        if (TryGetCached(digest, out var cached)) return cached;

        // Concurrent misses for one key share one read: a cold instance under load, or an entry expiring under
        // load, would otherwise read the client and all its grants once per waiting request. A read started before
        // an invalidation is not shared with requests that come after it (the generation is part of the key).
        var flight = new Flight(digest, Interlocked.Read(ref _generation));
        var load = _loading.GetOrAdd(flight, static (f, self) => new Lazy<Task<AuthenticatedClient?>>(() => self.LoadSharedAsync(f)), this);
        return await load.Value.WaitAsync(ct);
    }

    private async Task<AuthenticatedClient?> LoadSharedAsync(Flight flight)
    {
        try
        {
            // Not one caller's token: the others wait on this read too.
            return await LoadAndCacheAsync(flight.Digest, time.GetUtcNow(), CancellationToken.None);
        }
        finally
        {
            _loading.TryRemove(flight, out _);
        }
    }

    /// <summary>
    /// Reads the client again, past the cache: a grant that looks missing may have been added a moment ago,
    /// through another instance. A refusal is never served from the cache alone.
    /// </summary>
    public async ValueTask<AuthenticatedClient?> ReloadAsync(AuthenticatedClient client, CancellationToken ct) =>
        await LoadAndCacheAsync(client.KeyDigest, time.GetUtcNow(), ct);

    private async Task<AuthenticatedClient?> LoadAndCacheAsync(ApiKeyDigest digest, DateTimeOffset now, CancellationToken ct)
    {
        // A change committed while this lookup read the database may be missing from its answer: it serves this
        // request (which came in before the change), but its entry carries the generation it started in, so it is
        // not served after the invalidation.
        var generation = Interlocked.Read(ref _generation);
        var (client, validUntil) = await LoadAsync(digest, now, ct);
        if (client is null)
        {
            _byKeyHash.Remove(digest); // a key revoked meanwhile
            return null;
        }
        var expiresAt = now + options.Value.CacheTtl;
        _byKeyHash.Set(digest, new Entry(client, validUntil < expiresAt ? validUntil.Value : expiresAt, generation),
            new MemoryCacheEntryOptions { Size = 1 });
        return client;
    }

    /// <summary>Forget everything cached: called after any change to clients, grants or accounts.</summary>
    public void Invalidate()
    {
        Interlocked.Increment(ref _generation);
        _byKeyHash.Clear();
    }

    public void Dispose() => _byKeyHash.Dispose();

    /// <summary>The client, and until when the key stays valid when that is known (a rotated-out key's overlap).</summary>
    private async Task<(AuthenticatedClient? Client, DateTimeOffset? ValidUntil)> LoadAsync(ApiKeyDigest digest, DateTimeOffset now, CancellationToken ct)
    {
        var hash = digest.ToArray();
        await using var db = await contexts.CreateDbContextAsync(ct);
        var client = await db.Clients.AsNoTracking()
            .Where(c => c.RevokedAt == null &&
                        (c.KeyHash == hash || (c.PreviousKeyHash == hash && c.PreviousKeyExpiresAt > now)))
            .Select(c => new { c.Id, c.Name, c.Role, c.KeyHash, c.PreviousKeyHash, c.PreviousKeyExpiresAt })
            .FirstOrDefaultAsync(ct);
        // The index found the row; compare again in constant time so no timing tells how much of a hash matched.
        if (client is null ||
            !(ApiKeys.HashesEqual(client.KeyHash, hash) || (client.PreviousKeyHash is { } previous && ApiKeys.HashesEqual(previous, hash))))
            return (null, null);
        // A rotated-out key is not cached past the end of its overlap.
        var validUntil = ApiKeys.HashesEqual(client.KeyHash, hash) ? null : client.PreviousKeyExpiresAt;

        var accountGrants = db.ClientGrants.Where(g => g.ClientId == client.Id && g.AccountId != null).Select(g => g.Account!.Name);
        var providerGrants = db.Accounts
            .Where(a => db.ClientGrants.Any(g => g.ClientId == client.Id && g.ProviderId == a.ProviderId))
            .Select(a => a.Name);
        var accounts = await accountGrants.Union(providerGrants).ToListAsync(ct);
        return (new AuthenticatedClient(client.Id, client.Name, client.Role, accounts.ToHashSet(StringComparer.Ordinal))
        {
            KeyDigest = digest,
        }, validUntil);
    }

    private sealed record Entry(AuthenticatedClient Client, DateTimeOffset ExpiresAt, long Generation);

    private readonly record struct Flight(ApiKeyDigest Digest, long Generation);
}

public sealed record AuthenticatedClient(Guid Id, string Name, ClientRole Role, IReadOnlySet<string> GrantedAccounts)
{
    /// <summary>The hash of the key this client was found by, never the key.</summary>
    public ApiKeyDigest KeyDigest { get; init; }

    public bool IsGranted(string account) => GrantedAccounts.Contains(account);
}

public sealed class ClientDirectoryOptions
{
    public const string Section = "Broker:Clients";

    /// <summary>How long a key lookup is reused before the database is asked again.</summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan CacheTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How many keys are cached at most; beyond it the least recently used are evicted.</summary>
    [System.ComponentModel.DataAnnotations.Range(100, 10_000_000)]
    public int MaxEntries { get; set; } = 100_000;
}
