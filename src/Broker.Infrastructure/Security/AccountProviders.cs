using System.Collections.Concurrent;

namespace Broker.Infrastructure.Security;

/// <summary>
/// The provider of every account, one map for the whole <see cref="ClientDirectory"/>: a provider-wide grant is checked
/// against it. A client granted a provider used to hold a copy of the names of all its accounts, which grew with
/// clients × accounts and was read again in full, for every client, whenever an account was created; now it holds the
/// provider's id, and an account created or moved changes one entry here.
/// </summary>
public sealed class AccountProviders
{
    private readonly ConcurrentDictionary<string, Guid> _byName = new(StringComparer.Ordinal);

    public int Count => _byName.Count;

    public Guid? Of(string account) => _byName.TryGetValue(account, out var provider) ? provider : null;

    /// <summary>
    /// What a read of <paramref name="names"/> found (null: every account was read): found names are set, the others of
    /// the read are removed. Set before remove, so an account that stays is never missing.
    /// </summary>
    public void Replace(IReadOnlyCollection<(string Name, Guid ProviderId)> found, IReadOnlyCollection<string>? names)
    {
        foreach (var (name, provider) in found) _byName[name] = provider;
        var present = found.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in names ?? [.. _byName.Keys])
            if (!present.Contains(name)) _byName.TryRemove(name, out _);
    }
}
