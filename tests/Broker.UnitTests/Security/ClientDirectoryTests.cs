using System.Security.Cryptography;
using Broker.Domain;
using Broker.Infrastructure.Security;
using Xunit.Abstractions;

namespace Broker.UnitTests.Security;

/// <summary>The key directory's in-memory rules (its loads from the database are tested through the API).</summary>
public sealed class ClientDirectoryTests(ITestOutputHelper output)
{
    private static readonly TimeProvider Now = TimeProvider.System;

    [Fact]
    public void A_client_replaced_keeps_its_other_key_findable_and_loses_the_one_it_no_longer_has()
    {
        var directory = new ClientDirectory(null!, Now);
        var (client, key) = Client("svc", ["a"]);
        directory.Replace([client], null);
        directory.Find(key)!.Name.ShouldBe("svc");

        // Rotated with an overlap: both keys work, the old one only until the overlap ends.
        var (rotated, newKey) = Client("svc", ["a", "b"], client.Id);
        directory.Replace([rotated with { PreviousKeyHash = client.KeyHash, PreviousKeyExpiresAt = Now.GetUtcNow().AddMinutes(1) }], rotated.Id);
        directory.Find(newKey)!.IsGranted("b").ShouldBeTrue();
        directory.Find(key)!.ValidUntil.ShouldNotBeNull();

        directory.Replace([rotated], rotated.Id); // the overlap is over
        directory.Find(key).ShouldBeNull();
        directory.Find(newKey).ShouldNotBeNull();
        directory.Replace([], rotated.Id); // revoked
        directory.Find(newKey).ShouldBeNull();
        directory.Count.ShouldBe(0);
    }

    [Fact]
    public void A_rotated_out_key_past_its_overlap_is_not_found_even_before_the_next_load()
    {
        var directory = new ClientDirectory(null!, Now);
        var (client, key) = Client("svc", []);
        var (_, oldKey) = Client("old", []);
        directory.Replace([client with { PreviousKeyHash = ApiKeys.Hash(oldKey), PreviousKeyExpiresAt = Now.GetUtcNow().AddSeconds(-1) }], null);
        directory.Find(key).ShouldNotBeNull();
        directory.Find(oldKey).ShouldBeNull();
    }

    [Fact]
    public void A_full_load_removes_the_clients_it_no_longer_reads_and_keeps_the_others()
    {
        var directory = new ClientDirectory(null!, Now);
        var (kept, keptKey) = Client("kept", []);
        var (gone, goneKey) = Client("gone", []);
        directory.Replace([kept, gone], null);
        directory.Replace([kept], null);
        directory.Find(keptKey).ShouldNotBeNull();
        directory.Find(goneKey).ShouldBeNull();
    }

    /// <summary>The figure in docs/architecture.md: retained bytes per key, measured after a full collection.</summary>
    [Fact]
    public void Memory_per_key_stays_under_two_kilobytes_with_three_grants()
    {
        const int Keys = 100_000;
        var accounts = Enumerable.Range(0, 50).Select(i => $"account-{i:D2}").ToArray();
        var before = GC.GetTotalMemory(forceFullCollection: true); // the names and grant sets read count too
        var clients = Enumerable.Range(0, Keys).Select(i => Client($"service-{i:D6}",
            [.. accounts.Skip(i % 48).Take(3)]).Client).ToList();
        var directory = new ClientDirectory(null!, Now);
        directory.Replace(clients, null);
        clients = null;
        var after = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(directory);

        var perKey = (after - before) / (double)Keys;
        output.WriteLine($"{perKey:F0} bytes retained per key (3 grants each)");
        perKey.ShouldBeLessThan(2048);
    }

    /// <summary>
    /// A provider-wide grant is the provider's id, checked against the directory's one account-to-provider map: 10,000
    /// such clients over 10,000 accounts cost what 10,000 keys and 10,000 map entries cost, not 10,000 × 10,000 names
    /// (about 3 GB when every client held a copy of the provider's account names).
    /// </summary>
    [Fact]
    public void Memory_with_provider_grants_grows_with_keys_plus_accounts_not_their_product()
    {
        const int Keys = 10_000, Accounts = 10_000;
        var provider = Guid.NewGuid();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var directory = new ClientDirectory(null!, Now);
        directory.ReplaceAccountProviders([.. Enumerable.Range(0, Accounts).Select(i => ($"account-{i:D6}", provider))]);
        var clients = Enumerable.Range(0, Keys).Select(i => Client($"service-{i:D6}", []).Client with { Providers = new HashSet<Guid> { provider } }).ToList();
        var key = Client("probe", []);
        directory.Replace([.. clients, key.Client with { Providers = new HashSet<Guid> { provider } }], null);
        clients = null;
        var after = GC.GetTotalMemory(forceFullCollection: true);

        directory.Find(key.Key)!.IsGranted("account-009999").ShouldBeTrue();
        directory.Find(key.Key)!.IsGranted("account-010000").ShouldBeFalse();
        var perKeyAndAccount = (after - before) / (double)(Keys + Accounts);
        output.WriteLine($"{after - before:N0} bytes retained for {Keys:N0} provider-granted keys and {Accounts:N0} accounts");
        perKeyAndAccount.ShouldBeLessThan(2048);
        GC.KeepAlive(directory);
    }

    [Fact]
    public void A_provider_grant_covers_the_accounts_the_map_puts_in_the_provider_and_follows_them_when_they_move()
    {
        var (granted, other) = (Guid.NewGuid(), Guid.NewGuid());
        var directory = new ClientDirectory(null!, Now);
        directory.ReplaceAccountProviders([("a", granted), ("b", other)]);
        var (client, key) = Client("svc", ["direct"]);
        directory.Replace([client with { Providers = new HashSet<Guid> { granted } }], null);
        var found = directory.Find(key)!;
        found.IsGranted("a").ShouldBeTrue();
        found.IsGranted("b").ShouldBeFalse();
        found.IsGranted("direct").ShouldBeTrue("an account grant needs no map entry");

        directory.ReplaceAccountProviders([("b", granted)], ["a", "b"]); // b moved in, a deleted
        found.IsGranted("b").ShouldBeTrue();
        found.IsGranted("a").ShouldBeFalse();
    }

    private static (DirectoryClient Client, string Key) Client(string name, string[] grants, Guid? id = null)
    {
        var key = "brk_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        return (new DirectoryClient(id ?? Guid.NewGuid(), name, ClientRole.Consumer, grants.ToHashSet(StringComparer.Ordinal),
            ApiKeys.Hash(key), null, null), key);
    }
}
