using Broker.Infrastructure.Security;
using Broker.Infrastructure.Tokens;
using Microsoft.Extensions.Logging;

namespace Broker.Infrastructure.Persistence;

/// <summary>
/// Makes every broker instance drop or reload what a committed change made stale: this instance at once, the others
/// through the <see cref="ChangeFeed"/>, which they read within <c>Broker:Changes:PollInterval</c>. Called after the
/// change is committed, and awaited before the admin is answered: once the answer is out, every instance that reads
/// the feed sees the change.
/// </summary>
public sealed partial class CacheInvalidation(
    ClientDirectory clients,
    TokenCache tokens,
    ChangeFeed feed,
    ILogger<CacheInvalidation> logger)
{
    /// <summary>A feed row must not hold up an admin answer for long when the database is slow or down.</summary>
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(5);

    /// <summary>A client was created, or its key, grants or revocation changed: its entries are read again, no other.</summary>
    public async Task ClientChangedAsync(Guid id)
    {
        await ApplyHereAsync(() => clients.LoadClientAsync(id, CancellationToken.None));
        await PublishAsync([(ChangeKinds.Client, id.ToString())]);
    }

    /// <summary>
    /// What account grants cover changed for possibly many clients (a provider went, and its accounts with it): the
    /// whole directory is read again and swapped entry by entry, no key dropped.
    /// </summary>
    public async Task ClientsChangedAsync()
    {
        await ApplyHereAsync(() => clients.LoadAllAsync(CancellationToken.None));
        await PublishAsync([(ChangeKinds.Clients, "")]);
    }

    /// <summary>
    /// An account was created or moved to another provider: every instance reads which provider it belongs to, which
    /// is what provider-wide grants are checked against, and drops any token of it held in memory. One row read,
    /// however many accounts and clients there are.
    /// </summary>
    public async Task AccountProviderChangedAsync(string name)
    {
        tokens.Remove(name);
        await ApplyHereAsync(() => clients.LoadAccountProvidersAsync([name], CancellationToken.None));
        await PublishAsync([(ChangeKinds.Account, name), (ChangeKinds.AccountProvider, name)]);
    }

    /// <summary>
    /// The account's stored tokens were replaced or dropped: no instance may serve its copy from memory.
    /// <paramref name="grantsChanged"/> when the account went, which takes the grants on it with it.
    /// </summary>
    public Task AccountChangedAsync(string name, bool grantsChanged = false) => AccountsChangedAsync([name], grantsChanged);

    /// <inheritdoc cref="AccountChangedAsync"/>
    public async Task AccountsChangedAsync(IReadOnlyCollection<string> names, bool grantsChanged = false)
    {
        foreach (var name in names) tokens.Remove(name);
        if (grantsChanged) await ApplyHereAsync(() => clients.LoadAllAsync(CancellationToken.None));
        await PublishAsync([.. names.Select(name => (ChangeKinds.Account, name)), .. grantsChanged ? [(ChangeKinds.Clients, "")] : Array.Empty<(string, string)>()]);
    }

    /// <summary>
    /// This instance's directory, at once: the admin's next request here must see the change. If the read fails, the
    /// feed row (which this instance reads too) brings it a poll later.
    /// </summary>
    private async Task ApplyHereAsync(Func<Task> load)
    {
        try
        {
            await load();
        }
        catch (Exception e)
        {
            LogApplyFailed(e);
        }
    }

    private async Task PublishAsync((string Kind, string Subject)[] changes)
    {
        try
        {
            // Not the request's token: the change is committed, and an admin who hangs up must not keep the other
            // instances from learning of it.
            using var timeout = new CancellationTokenSource(PublishTimeout);
            await feed.PublishAsync(changes, timeout.Token);
        }
        catch (Exception e)
        {
            // The change is committed but the feed does not say so. Other instances catch up at their next full
            // reload (ChangeFeed.FullReloadEvery) and when their cached tokens reach Broker:Tokens:MemoryCacheMaxAge.
            LogPublishFailed(e, changes.Length);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not reload the key directory after a change; the change feed brings it")]
    private partial void LogApplyFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Could not write {Count} change(s) to the change feed; other instances see them at their next full reload")]
    private partial void LogPublishFailed(Exception exception, int count);
}
