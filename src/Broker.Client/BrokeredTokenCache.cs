using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Broker.Client;

/// <summary>
/// The tokens this process holds, one per account, each used until <see cref="BrokeredTokenOptions.RenewBefore"/>
/// before its expiry. Concurrent misses for one account share one request to the broker (single flight), and so
/// do concurrent refusals of one token: the broker hears of a refused token once, then one fresh token is fetched.
/// A failure is never cached: the next caller asks again.
/// </summary>
internal sealed partial class BrokeredTokenCache(
    IHttpClientFactory httpClients,
    IOptionsMonitor<BrokeredTokenOptions> options,
    TimeProvider time,
    IdentityTokenFiles identityTokens,
    ILogger<BrokeredTokenCache> logger)
{
    private readonly ConcurrentDictionary<string, Slot> _slots = new(StringComparer.Ordinal);

    /// <summary>The cached token when it is fresh enough, else a new one from the broker.</summary>
    public Task<BrokeredToken> GetAsync(string account, CancellationToken ct)
    {
        var slot = _slots.GetOrAdd(account, _ => new Slot());
        lock (slot)
        {
            if (slot.Token is { } token && IsFresh(token)) return Task.FromResult(token);
            return JoinOrStartLocked(slot, account, rejected: null).WaitAsync(ct);
        }
    }

    /// <summary>
    /// The upstream refused <paramref name="refused"/>: unless another caller already replaced it, report it to
    /// the broker and fetch a fresh token (both in one flight shared with concurrent callers).
    /// </summary>
    public Task<BrokeredToken> RenewAfterRejectionAsync(BrokeredToken refused, CancellationToken ct)
    {
        var slot = _slots.GetOrAdd(refused.Account, _ => new Slot());
        lock (slot)
        {
            if (slot.Token is { } token && token.AccessToken != refused.AccessToken && IsFresh(token)) return Task.FromResult(token);
            if (slot.Flight is null) slot.Token = null;
            return JoinOrStartLocked(slot, refused.Account, slot.Flight is null ? refused : null).WaitAsync(ct);
        }
    }

    private bool IsFresh(BrokeredToken token) =>
        time.GetUtcNow() < token.ExpiresAt - options.Get(token.Account).RenewBefore;

    private Task<BrokeredToken> JoinOrStartLocked(Slot slot, string account, BrokeredToken? rejected)
    {
        if (slot.Flight is { } flight) return flight;
        var done = new TaskCompletionSource<BrokeredToken>(TaskCreationOptions.RunContinuationsAsynchronously);
        slot.Flight = done.Task;
        // Started outside the caller's cancellation: the others waiting on this flight still want the token.
        _ = Task.Run(() => FlyAsync(slot, account, rejected, done));
        return done.Task;
    }

    private async Task FlyAsync(Slot slot, string account, BrokeredToken? rejected, TaskCompletionSource<BrokeredToken> done)
    {
        var broker = new BrokerTokenClient(httpClients.CreateClient(BrokerTokenClient.HttpClientName), options, time, identityTokens);
        try
        {
            if (rejected is not null)
            {
                try
                {
                    await broker.ReportRejectedAsync(account, rejected.AccessToken);
                    LogReported(logger, account);
                }
                catch (BrokerTokenException e)
                {
                    // The fetch below may still bring a working token (the old one may have expired meanwhile).
                    LogReportFailed(logger, account, e.Message);
                }
            }

            var token = await broker.GetTokenAsync(account);
            LogFetched(logger, account, token.ExpiresAt);
            lock (slot)
            {
                slot.Token = token;
                slot.Flight = null;
            }
            done.SetResult(token);
        }
        catch (Exception e)
        {
            lock (slot) slot.Flight = null;
            done.SetException(e);
        }
    }

    private sealed class Slot
    {
        public BrokeredToken? Token;
        public Task<BrokeredToken>? Flight;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Fetched a token for account {Account} from the broker, expiring at {ExpiresAt:O}")]
    private static partial void LogFetched(ILogger logger, string account, DateTimeOffset expiresAt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Reported the refused token of account {Account} to the broker")]
    private static partial void LogReported(ILogger logger, string account);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not report the refused token of account {Account} to the broker: {Error}")]
    private static partial void LogReportFailed(ILogger logger, string account, string error);
}
