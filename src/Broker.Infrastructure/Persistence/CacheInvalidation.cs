using Broker.Infrastructure.Security;
using Broker.Infrastructure.Tokens;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Broker.Infrastructure.Persistence;

/// <summary>
/// Makes every broker instance forget what a committed change made stale: this instance at once, the others
/// through a PostgreSQL notification on <see cref="Channel"/>, which <see cref="CacheInvalidationListener"/>
/// applies. A notification that cannot be sent is only logged: the caches' TTLs
/// (<c>Broker:Clients:CacheTtl</c>, <c>Broker:Tokens:MemoryCacheMaxAge</c>) still bound how long it goes unseen.
/// </summary>
public sealed partial class CacheInvalidation(
    ClientDirectory clients,
    TokenCache tokens,
    NpgsqlDataSource dataSource,
    ILogger<CacheInvalidation> logger)
{
    public const string Channel = "broker_changes";

    // Payloads name the sending instance and what changed, never a secret: "<instance> clients", or
    // "<instance> account:" and an account name (at most 100 characters, far below NOTIFY's 8000-byte limit).
    private const string ClientsPayload = "clients";
    private const string AccountPrefix = "account:";

    /// <summary>
    /// This instance, in its notifications: it has forgotten what changed before it notifies, and must not forget it
    /// again when it hears itself, which would drop key lookups made meanwhile for nothing.
    /// </summary>
    private readonly string _instance = Guid.NewGuid().ToString("N")[..12];

    /// <summary>A notification must not hold up an admin answer for long when the database is slow or down.</summary>
    private static readonly TimeSpan NotifyTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A client, its key or its grants changed, or accounts appeared or went under a provider-wide grant: every
    /// cached key lookup is dropped.
    /// </summary>
    public Task ClientsChangedAsync()
    {
        clients.Invalidate();
        return NotifyAsync([ClientsPayload]);
    }

    /// <summary>
    /// The account's stored tokens were replaced or dropped: no instance may serve its copy from memory.
    /// <paramref name="grantsChanged"/> when the account went or moved to another provider, which changes what
    /// provider-wide grants cover.
    /// </summary>
    public Task AccountChangedAsync(string name, bool grantsChanged = false) => AccountsChangedAsync([name], grantsChanged);

    /// <inheritdoc cref="AccountChangedAsync"/>
    public Task AccountsChangedAsync(IReadOnlyCollection<string> names, bool grantsChanged = false)
    {
        foreach (var name in names) tokens.Remove(name);
        if (grantsChanged) clients.Invalidate();
        return NotifyAsync([.. names.Select(name => AccountPrefix + name), .. grantsChanged ? [ClientsPayload] : Array.Empty<string>()]);
    }

    /// <summary>Applies a notification from another instance (this one's own have been applied already).</summary>
    internal void Apply(string notification)
    {
        var space = notification.IndexOf(' ', StringComparison.Ordinal);
        if (space > 0 && notification.AsSpan(0, space).SequenceEqual(_instance)) return;
        var payload = space > 0 ? notification[(space + 1)..] : notification;
        if (payload == ClientsPayload) clients.Invalidate();
        else if (payload.StartsWith(AccountPrefix, StringComparison.Ordinal)) tokens.Remove(payload[AccountPrefix.Length..]);
        else ForgetEverything(); // from a newer version, say: forgetting everything is always safe
    }

    /// <summary>After a time without listening: any notification of that time may have been missed.</summary>
    internal void ForgetEverything()
    {
        clients.Invalidate();
        tokens.Clear();
    }

    private async Task NotifyAsync(string[] payloads)
    {
        if (payloads.Length == 0) return;
        try
        {
            // Not the request's token: the change is committed, and an admin who hangs up must not keep the other
            // instances from learning of it.
            using var timeout = new CancellationTokenSource(NotifyTimeout);
            await using var notify = dataSource.CreateCommand($"SELECT pg_notify('{Channel}', payload) FROM unnest($1::text[]) AS payload");
            notify.Parameters.Add(new NpgsqlParameter { Value = payloads.Select(payload => $"{_instance} {payload}").ToArray() });
            await notify.ExecuteNonQueryAsync(timeout.Token);
        }
        catch (Exception e)
        {
            // Whatever went wrong, the change itself is committed and this instance has forgotten the old state:
            // the other instances catch up when their cache entries expire.
            LogNotifyFailed(e, payloads.Length);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Could not notify the other instances of {Count} change(s); they see them when their cache entries expire")]
    private partial void LogNotifyFailed(Exception exception, int count);
}
