using System.Collections.Concurrent;
using Broker.Domain;
using Broker.Infrastructure.Identity;
using Broker.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;

namespace Broker.Infrastructure.Security;

/// <summary>
/// Every active API key, in memory: key digest → client, role and grants (accounts by name, providers by id, checked
/// against the one <see cref="AccountProviders"/> map). Loaded whole when the instance starts and kept current by the
/// <see cref="ChangeFeed"/>: a change to one client replaces that client's entries only, an account created or moved
/// changes its entry in the map, and a change that may touch many (an account deleted, a provider deleted) reloads
/// them all and swaps entry by entry. No key is ever dropped to be looked up again, so a valid key is answered from memory
/// whatever else happens, and a key that is not here is not a key (once the feed has caught up, see
/// <see cref="ChangeFeed.CatchUpAsync"/>). Retained memory per key: docs/architecture.md, "Keeping instances' caches
/// current". It holds the workload identities too: the trusted issuers and every client's identity bindings, read
/// with the clients and kept current the same way (<see cref="WorkloadIdentity"/> matches tokens against them,
/// <see cref="ClientCertificateIdentity"/> client certificates).
/// </summary>
/// <remarks>
/// Readers never lock: they read a <see cref="ConcurrentDictionary{TKey,TValue}"/>. Loads are serialized, and each
/// reads the database inside the lock, so a load that started later always applies later: an older read can never
/// overwrite a newer one (a revocation undone by a slow load).
/// </remarks>
public sealed class ClientDirectory(IDbContextFactory<BrokerDbContext> contexts, TimeProvider time)
{
    private readonly ConcurrentDictionary<ApiKeyDigest, AuthenticatedClient> _byDigest = new();
    private readonly Dictionary<Guid, ApiKeyDigest[]> _digestsOf = []; // under _loading
    private readonly ConcurrentDictionary<Guid, BoundClient> _byId = new();
    private readonly SemaphoreSlim _loading = new(1, 1);
    private readonly AccountProviders _accountProviders = new();
    private volatile IReadOnlyDictionary<string, TrustedIssuer> _issuers = new Dictionary<string, TrustedIssuer>();
    private volatile IReadOnlyList<TrustedIssuer> _certificateIssuers = [];
    private long _generation;

    /// <summary>How many clients are held (for readiness and tests).</summary>
    public int Count => _byDigest.Count;

    /// <summary>Grows with every load: what was concluded from an older generation (a validated token) is looked at again.</summary>
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>The trusted (JWT) issuer whose tokens carry this exact <c>iss</c>.</summary>
    public TrustedIssuer? FindIssuer(string iss) => _issuers.GetValueOrDefault(iss);

    /// <summary>
    /// The trusted X.509 issuers (certificate authorities). A new list after every load that read the issuers, so a
    /// reader may keep what it derived from one list for as long as the directory hands out the same list.
    /// </summary>
    public IReadOnlyList<TrustedIssuer> CertificateIssuers => _certificateIssuers;

    /// <summary>Every identity binding of the issuer, with the client it authenticates (as the directory holds it now).</summary>
    public IEnumerable<(AuthenticatedClient Client, IdentityBinding Binding)> BoundTo(Guid issuerId) =>
        _byId.Values.SelectMany(c => c.Bindings.Where(b => b.IssuerId == issuerId).Select(b => (c.Client, b)));

    /// <summary>
    /// The directory's current entry for a client found earlier (its grants may have changed since): by its key, or
    /// for a client that authenticated with its workload identity, by its id, keeping how it authenticated.
    /// </summary>
    public AuthenticatedClient? Current(AuthenticatedClient client) =>
        client.Identity is { } identity && (identity.StartsWith(WorkloadIdentity.IdentityPrefix, StringComparison.Ordinal) ||
                                            identity.StartsWith(ClientCertificateIdentity.IdentityPrefix, StringComparison.Ordinal))
            ? _byId.TryGetValue(client.Id, out var bound) ? bound.Client with { Identity = client.Identity } : null
            : Find(client.KeyDigest);

    /// <summary>The client of a key, from memory; null when the directory holds no such key (or its overlap ended).</summary>
    public AuthenticatedClient? Find(string apiKey) => Find(ApiKeys.Digest(apiKey));

    /// <inheritdoc cref="Find(string)"/>
    public AuthenticatedClient? Find(ApiKeyDigest digest) =>
        _byDigest.TryGetValue(digest, out var client) && (client.ValidUntil is not { } until || until > time.GetUtcNow()) ? client : null;

    /// <summary>Reads every active client and replaces the directory's content with it.</summary>
    public Task LoadAllAsync(CancellationToken ct) => LoadAsync(null, ct);

    /// <summary>Reads one client again (created, changed, rotated or revoked) and replaces its entries only.</summary>
    public Task LoadClientAsync(Guid id, CancellationToken ct) => LoadAsync(id, ct);

    /// <summary>Accounts held in the provider map (for tests and the memory figures).</summary>
    public int AccountCount => _accountProviders.Count;

    /// <summary>
    /// Puts what a read of accounts found in the provider map (<paramref name="names"/>: what was read; null: every
    /// account). Public for the unit tests; loads call it.
    /// </summary>
    public void ReplaceAccountProviders(IReadOnlyCollection<(string Name, Guid ProviderId)> found, IReadOnlyCollection<string>? names = null) =>
        _accountProviders.Replace(found, names);

    /// <summary>
    /// Reads the provider of these accounts again (created, moved; gone ones leave the map): all a provider-wide grant
    /// needs, whatever the number of clients.
    /// </summary>
    public async Task LoadAccountProvidersAsync(IReadOnlyCollection<string> names, CancellationToken ct)
    {
        if (names.Count == 0) return;
        await _loading.WaitAsync(ct);
        try
        {
            await using var db = await contexts.CreateDbContextAsync(ct);
            var found = await db.Accounts.AsNoTracking().Where(a => names.Contains(a.Name))
                .Select(a => new { a.Name, a.ProviderId }).ToListAsync(ct);
            _accountProviders.Replace([.. found.Select(a => (a.Name, a.ProviderId))], names);
        }
        finally
        {
            _loading.Release();
        }
    }

    private async Task LoadAsync(Guid? only, CancellationToken ct)
    {
        await _loading.WaitAsync(ct);
        try
        {
            if (only is null)
            {
                var issuers = await ReadIssuersAsync(ct);
                _issuers = issuers.Where(i => i.Kind == IssuerKind.Jwt).ToDictionary(i => i.Issuer!, StringComparer.Ordinal);
                _certificateIssuers = [.. issuers.Where(i => i.Kind == IssuerKind.X509)];
                await using var db = await contexts.CreateDbContextAsync(ct);
                var accounts = await db.Accounts.AsNoTracking().Select(a => new { a.Name, a.ProviderId }).ToListAsync(ct);
                _accountProviders.Replace([.. accounts.Select(a => (a.Name, a.ProviderId))], null);
            }
            Replace(await ReadAsync(only, ct), only);
        }
        finally
        {
            _loading.Release();
        }
    }

    /// <summary>
    /// Puts what was read in place: new and changed entries first, then the digests that are gone are removed, so a
    /// key that stays valid is never missing, not even for a moment. <paramref name="only"/>: the read covered that
    /// client alone (null: every client). Public for the memory measurement in the unit tests; loads call it.
    /// </summary>
    public void Replace(IReadOnlyCollection<DirectoryClient> read, Guid? only)
    {
        var present = new HashSet<Guid>();
        foreach (var client in read)
        {
            present.Add(client.Id);
            var digests = client.Digests();
            var grants = new GrantSet(client.Grants, client.Providers, _accountProviders);
            foreach (var (digest, validUntil, identity) in digests)
            {
                _byDigest[digest] = new AuthenticatedClient(client.Id, client.Name, client.Role, grants)
                    { KeyDigest = digest, ValidUntil = validUntil, Identity = identity };
            }
            _byId[client.Id] = new BoundClient(new AuthenticatedClient(client.Id, client.Name, client.Role, grants), client.Bindings);
            if (_digestsOf.TryGetValue(client.Id, out var old))
                foreach (var stale in old)
                    if (!digests.Any(d => d.Digest == stale)) _byDigest.TryRemove(stale, out _);
            _digestsOf[client.Id] = [.. digests.Select(d => d.Digest)];
        }
        foreach (var id in only is { } one ? [one] : _digestsOf.Keys.ToArray())
        {
            if (present.Contains(id) || !_digestsOf.Remove(id, out var gone)) continue;
            foreach (var digest in gone) _byDigest.TryRemove(digest, out _);
            _byId.TryRemove(id, out _);
        }
        Interlocked.Increment(ref _generation);
    }

    private async Task<List<TrustedIssuer>> ReadIssuersAsync(CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        return await db.Issuers.AsNoTracking().ToListAsync(ct);
    }

    private async Task<List<DirectoryClient>> ReadAsync(Guid? only, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var now = time.GetUtcNow();
        var clients = await db.Clients.AsNoTracking()
            .Where(c => c.RevokedAt == null && (only == null || c.Id == only))
            .Select(c => new { c.Id, c.Name, c.Role, c.KeyHash, c.KeyPrefix, c.PreviousKeyHash, c.PreviousKeyPrefix, c.PreviousKeyExpiresAt })
            .ToListAsync(ct);
        if (clients.Count == 0) return [];

        var accountGrants = db.ClientGrants.Where(g => g.AccountId != null && (only == null || g.ClientId == only))
            .Select(g => new { g.ClientId, g.Account!.Name });
        var grants = (await accountGrants.ToListAsync(ct)).ToLookup(g => g.ClientId, g => g.Name);
        var providerGrants = (await db.ClientGrants.Where(g => g.ProviderId != null && (only == null || g.ClientId == only))
            .Select(g => new { g.ClientId, ProviderId = g.ProviderId!.Value }).ToListAsync(ct)).ToLookup(g => g.ClientId, g => g.ProviderId);
        var bindings = (await db.IdentityBindings.AsNoTracking().Where(b => only == null || b.ClientId == only).ToListAsync(ct))
            .ToLookup(b => b.ClientId);

        // One set of names per client; equal names share one string (an account granted to many clients).
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        return clients.Select(c => new DirectoryClient(c.Id, c.Name, c.Role,
                grants[c.Id].Select(n => names.TryGetValue(n, out var shared) ? shared : names[n] = n).ToHashSet(StringComparer.Ordinal),
                c.KeyHash,
                c.PreviousKeyExpiresAt > now ? c.PreviousKeyHash : null, c.PreviousKeyExpiresAt)
                {
                    Providers = providerGrants.Contains(c.Id) ? providerGrants[c.Id].ToHashSet() : DirectoryClient.NoProviders,
                    Bindings = [.. bindings[c.Id]],
                    KeyPrefix = c.KeyPrefix, PreviousKeyPrefix = c.PreviousKeyPrefix,
                })
            .ToList();
    }
}

/// <summary>
/// A client as read from the database for the directory: its key hashes, role, the accounts granted to it by name and
/// the providers granted to it whole.
/// </summary>
public sealed record DirectoryClient(
    Guid Id, string Name, ClientRole Role, IReadOnlySet<string> Grants, byte[] KeyHash, byte[]? PreviousKeyHash, DateTimeOffset? PreviousKeyExpiresAt)
{
    /// <summary>The providers every account of which the client is granted.</summary>
    public IReadOnlySet<Guid> Providers { get; init; } = NoProviders;

    /// <summary>Shared by every client without a provider grant (most): one empty set, not one each.</summary>
    public static readonly IReadOnlySet<Guid> NoProviders = new HashSet<Guid>();

    /// <summary>The workload identities that authenticate as this client.</summary>
    public IdentityBinding[] Bindings { get; init; } = [];

    /// <summary>The key's first characters, as the admin API shows them: the key's name in the audit trail.</summary>
    public string? KeyPrefix { get; init; }

    /// <summary>The rotated-out key's first characters.</summary>
    public string? PreviousKeyPrefix { get; init; }

    /// <summary>
    /// The key, and the rotated-out key during its overlap (valid until the overlap ends), each with the identity the
    /// trail names it by (<see cref="AuthenticatedClient.Identity"/>).
    /// </summary>
    public List<(ApiKeyDigest Digest, DateTimeOffset? ValidUntil, string? Identity)> Digests()
    {
        var digests = new List<(ApiKeyDigest, DateTimeOffset?, string?)>(2) { (ApiKeyDigest.From(KeyHash), null, KeyIdentity(KeyPrefix)) };
        if (PreviousKeyHash is { Length: 32 } previous)
            digests.Add((ApiKeyDigest.From(previous), PreviousKeyExpiresAt, KeyIdentity(PreviousKeyPrefix)));
        return digests;
    }

    private static string? KeyIdentity(string? prefix) => prefix is null ? null : AuthenticatedClient.KeyIdentityPrefix + prefix;
}

/// <summary>A client and its identity bindings, as the directory holds them.</summary>
internal sealed record BoundClient(AuthenticatedClient Client, IdentityBinding[] Bindings);

/// <summary>
/// What a client is granted: accounts by name, and providers whole (every account of it, now and later), looked up in the
/// directory's one map of account to provider.
/// </summary>
public sealed record GrantSet(IReadOnlySet<string> Accounts, IReadOnlySet<Guid> Providers, AccountProviders AccountProviders)
{
    public bool Covers(string account) =>
        Accounts.Contains(account) || (Providers.Count > 0 && AccountProviders.Of(account) is { } provider && Providers.Contains(provider));
}

public sealed record AuthenticatedClient(Guid Id, string Name, ClientRole Role, GrantSet Grants)
{
    /// <summary>The hash of the key this client was found by, never the key.</summary>
    public ApiKeyDigest KeyDigest { get; init; }

    /// <summary>Until when the key is accepted, for a rotated-out key in its overlap; null for the current key.</summary>
    public DateTimeOffset? ValidUntil { get; init; }

    /// <summary>
    /// How the caller proved it is this client, for the audit trail, never a secret: <c>key:&lt;key prefix&gt;</c> for an
    /// API key (its prefix, as the admin API shows it), <c>jwt:&lt;issuer&gt; &lt;subject&gt;</c> for a workload identity
    /// token, <c>cert:&lt;thumbprint&gt;</c> (SHA-256, lower-case hex) for a client certificate.
    /// </summary>
    public string? Identity { get; init; }

    /// <summary>How an API key's holder is named in <see cref="Identity"/>: <c>key:</c> and the key's shown prefix.</summary>
    public const string KeyIdentityPrefix = "key:";

    public bool IsGranted(string account) => Grants.Covers(account);
}
