using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using Broker.Domain;
using Broker.Infrastructure.Outbound;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Broker.Infrastructure.Identity;

/// <summary>
/// The signing keys of each trusted issuer: its static JWKS, or the JWKS at its <c>jwks_uri</c> (or the one its OIDC
/// discovery names), fetched through the same outbound rules as upstream calls, kept for
/// <see cref="WorkloadIdentityOptions.KeysRefreshInterval"/>, and fetched again when a token names a key it does not
/// have, at most once per <see cref="WorkloadIdentityOptions.KeysRefetchInterval"/>. One fetch per issuer at a time;
/// callers that arrive meanwhile wait for it.
/// </summary>
public sealed partial class IssuerKeys(IHttpClientFactory http, OutboundDestinations destinations, TimeProvider time,
    IOptions<WorkloadIdentityOptions> options, ILogger<IssuerKeys> logger)
{
    public const string HttpClientName = "issuer-keys";
    private const int MaxDocumentBytes = 256 * 1024;
    private static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<Guid, Entry> _entries = new();
    private int _fetches;

    /// <summary>JWKS fetches made (discovery documents not counted), for tests and the benchmark.</summary>
    public int Fetches => Volatile.Read(ref _fetches);

    /// <summary>The issuer's keys; null when they could not be had (the issuer is unreachable and nothing was fetched before).</summary>
    public async Task<IReadOnlyList<SecurityKey>?> KeysAsync(TrustedIssuer issuer, string? kid, CancellationToken ct)
    {
        var entry = _entries.AddOrUpdate(issuer.Id, _ => new Entry(issuer.UpdatedAt),
            (_, old) => old.Version == issuer.UpdatedAt ? old : new Entry(issuer.UpdatedAt));
        if (issuer.Jwks is { } fixedSet) return entry.Keys ??= Parse(fixedSet);

        if (!NeedsFetch(entry, kid, time.GetUtcNow(), out var seen)) return entry.Keys;
        await entry.Gate.WaitAsync(ct);
        try
        {
            // Another caller may have fetched while this one waited.
            if (entry.AttemptedAt != seen || !NeedsFetch(entry, kid, time.GetUtcNow(), out _)) return entry.Keys;
            entry.AttemptedAt = time.GetUtcNow();
            try
            {
                // Not the waiting request's token: a caller hanging up must not cost every other caller the keys
                // until the next refetch interval. The fetch is bounded by its own timeout.
                entry.Keys = await FetchAsync(issuer, CancellationToken.None);
                entry.FetchedAt = entry.AttemptedAt.Value;
            }
            catch (Exception e) when (e is HttpRequestException or JsonException or ArgumentException or InvalidOperationException
                                          or OperationCanceledException or OutboundDestinationRefusedException)
            {
                // The keys fetched before stay in use: a key rotation a moment later is not worth refusing every token.
                LogFetchFailed(issuer.Name, e.Message);
            }
            return entry.Keys;
        }
        finally
        {
            entry.Gate.Release();
        }
    }

    private bool NeedsFetch(Entry entry, string? kid, DateTimeOffset now, out DateTimeOffset? attemptedAt)
    {
        attemptedAt = entry.AttemptedAt;
        if (entry.Keys is null || now - entry.FetchedAt >= options.Value.KeysRefreshInterval)
            return entry.AttemptedAt is not { } at || now - at >= options.Value.KeysRefetchInterval;
        var unknown = kid is not null && !entry.Keys.Any(k => k.KeyId == kid);
        return unknown && (entry.AttemptedAt is not { } last || now - last >= options.Value.KeysRefetchInterval);
    }

    private async Task<IReadOnlyList<SecurityKey>> FetchAsync(TrustedIssuer issuer, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(FetchTimeout);
        var client = http.CreateClient(HttpClientName);
        var jwksUri = issuer.JwksUri;
        if (jwksUri is null)
        {
            var discovery = JsonDocument.Parse(await GetAsync(client, issuer, DiscoveryUrl(issuer.Issuer!), timeout.Token));
            jwksUri = discovery.RootElement.TryGetProperty("jwks_uri", out var uri) && uri.ValueKind == JsonValueKind.String
                ? uri.GetString()! : throw new InvalidOperationException("the discovery document names no jwks_uri");
        }
        Interlocked.Increment(ref _fetches);
        return Parse(await GetAsync(client, issuer, jwksUri, timeout.Token));
    }

    public static string DiscoveryUrl(string issuer) => issuer.TrimEnd('/') + "/.well-known/openid-configuration";

    private async Task<string> GetAsync(HttpClient client, TrustedIssuer issuer, string url, CancellationToken ct)
    {
        var uri = new Uri(url);
        if (destinations.UrlProblem(uri, issuer.Name) is { } problem) throw new OutboundDestinationRefusedException($"{uri.Host}: {problem}");
        using var response = await client.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, ct);
        response.EnsureSuccessStatusCode();
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        var buffer = new byte[MaxDocumentBytes + 1];
        var read = 0;
        while (read < buffer.Length && await body.ReadAsync(buffer.AsMemory(read), ct) is var n and > 0) read += n;
        if (read > MaxDocumentBytes) throw new InvalidOperationException($"the document at {uri.Host} is over {MaxDocumentBytes} bytes");
        return System.Text.Encoding.UTF8.GetString(buffer, 0, read);
    }

    /// <summary>
    /// The public signing keys of a JWKS: RSA, EC and Ed25519 (OKP) keys meant for signatures; anything else is left out.
    /// </summary>
    public static IReadOnlyList<SecurityKey> Parse(string jwks) =>
        [.. new JsonWebKeySet(jwks).Keys.Where(k => (k.Kty is "RSA" or "EC" || Ed25519Signatures.PublicKeyOf(k) is not null) && k.Use is null or "sig")];

    private sealed class Entry(DateTimeOffset version)
    {
        public DateTimeOffset Version { get; } = version;
        public SemaphoreSlim Gate { get; } = new(1, 1);
        public IReadOnlyList<SecurityKey>? Keys { get; set; }
        public DateTimeOffset FetchedAt { get; set; }
        public DateTimeOffset? AttemptedAt { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Fetching the keys of issuer {Issuer} failed: {Reason}")]
    private partial void LogFetchFailed(string issuer, string reason);
}
