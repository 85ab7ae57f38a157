using System.Collections.Concurrent;
using Broker.Domain;
using Broker.Infrastructure.Observability;
using Microsoft.Extensions.Options;

namespace Broker.Infrastructure.Tokens;

/// <summary>
/// Hands out a currently valid access token for an account (docs/architecture.md, "Handing out a token"): memory
/// first; on a miss one in-flight task per account and instance, which goes to <see cref="AccountRenewal"/> (the
/// plain read, then the row lock and the renewal under it). Remembers which accounts this instance served, for the
/// ahead-of-time refresher.
/// </summary>
public sealed class TokenIssuer(AccountRenewal renewal, RenewalDrain drain, TokenCache cache, TimeProvider time, IOptions<TokenOptions> tokenOptions)
{
    private readonly ConcurrentDictionary<FlightKey, Lazy<Task<TokenResult>>> _inFlight = new();
    private readonly ConcurrentDictionary<string, long> _lastUsedTicks = new(StringComparer.Ordinal);
    private readonly TokenOptions _options = tokenOptions.Value;

    public async ValueTask<TokenResult> GetTokenAsync(string account, TimeSpan minValidity, Caller caller, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        // Written at most once a second per account: a dictionary write takes a lock, a read does not.
        if (!_lastUsedTicks.TryGetValue(account, out var lastUsed) || now.UtcTicks - lastUsed >= TimeSpan.TicksPerSecond)
            _lastUsedTicks[account] = now.UtcTicks;
        if (cache.TryGet(account, out var cached) && now - cached.CachedAt < _options.MemoryCacheMaxAge &&
            TokenPolicy.Serves(cached.ExpiresAt, cached.ObtainedAt, now, minValidity, _options.ClockSkew, _options.FreshTokenWindow))
            return new TokenResult.Served(cached.AccountId, cached.ProviderName, cached.AccessToken, cached.TokenType, cached.ExpiresAt, cached.TokenHmac, FromCache: true);

        // Single flight: concurrent misses share one task. It runs detached from any one caller's cancellation,
        // so a caller that gives up does not abort the upstream call the others wait on.
        var key = new FlightKey(account, TokenPolicy.FlightMinValidity(minValidity));
        // The audit trail names the caller whose miss started the upstream call.
        var flight = _inFlight.GetOrAdd(key, static (k, state) => new Lazy<Task<TokenResult>>(() => state.Issuer.RunFlightAsync(k, state.Caller)),
            (Issuer: this, Caller: caller));
        return await flight.Value.WaitAsync(ct);
    }

    /// <summary>
    /// Replaces the stored token whatever it is, under the lock (an admin's test): an account that can log in logs
    /// in, one that cannot refreshes.
    /// </summary>
    public async Task<TokenResult> RenewAsync(string account, Caller caller, CancellationToken ct)
    {
        cache.Remove(account);
        return await FetchAsync(account, new Renewal(TimeSpan.Zero, Force: true), caller, ct);
    }

    /// <summary>
    /// Ahead-of-time refresh: renew the token obtained at <paramref name="obtainedAt"/>, unless someone (another
    /// instance, a caller) already replaced it by the time we hold the lock.
    /// </summary>
    public Task<TokenResult> RefreshAheadAsync(string account, DateTimeOffset? obtainedAt, CancellationToken ct) =>
        FetchAsync(account, new Renewal(TimeSpan.Zero, UnlessObtainedAfter: obtainedAt ?? DateTimeOffset.MinValue), Caller.AheadOfTime, ct);

    /// <summary>The accounts this instance served since <paramref name="since"/>: the ones worth keeping warm.</summary>
    public IReadOnlyList<string> UsedSince(DateTimeOffset since) =>
        _lastUsedTicks.Where(u => u.Value >= since.UtcTicks).Select(u => u.Key).ToList();

    /// <inheritdoc cref="AccountRenewal.DropRejectedAsync"/>
    public Task<bool?> DropRejectedAsync(string name, string? rejectedToken, CancellationToken ct) => renewal.DropRejectedAsync(name, rejectedToken, ct);

    /// <inheritdoc cref="AccountRenewal.WarmUpAsync"/>
    public Task WarmUpAsync(CancellationToken ct) => renewal.WarmUpAsync(ct);

    private async Task<TokenResult> RunFlightAsync(FlightKey key, Caller caller)
    {
        try
        {
            return await FetchAsync(key.Account, new Renewal(key.MinValidity), caller, CancellationToken.None);
        }
        finally
        {
            _inFlight.TryRemove(key, out _);
        }
    }

    /// <summary>
    /// The renewal runs to its end whatever the caller does (an admin's client that hangs up, the ahead-of-time
    /// loop at shutdown): once a refresh is sent its answer must be stored. <paramref name="ct"/> only stops waiting.
    /// </summary>
    private async Task<TokenResult> FetchAsync(string name, Renewal terms, Caller caller, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested(); // a caller already gone starts nothing
        return await drain.Run(() => RenewTracedAsync(name, terms, caller)).WaitAsync(ct);
    }

    private async Task<TokenResult> RenewTracedAsync(string name, Renewal terms, Caller caller)
    {
        using var activity = BrokerTracing.StartFetch(name);
        var result = await renewal.LockAndRenewAsync(name, terms, caller, CancellationToken.None);
        BrokerTracing.FetchEnded(activity, result switch
        {
            TokenResult.Served => "served",
            TokenResult.Failed failed => failed.Failure.ToName(),
            TokenResult.Skipped => "skipped",
            _ => "not_found",
        }, succeeded: result is not TokenResult.Failed);
        return result;
    }

    private readonly record struct FlightKey(string Account, TimeSpan MinValidity);
}
