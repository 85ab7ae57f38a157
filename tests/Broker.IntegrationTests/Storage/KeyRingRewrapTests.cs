using System.Xml.Linq;
using Broker.Domain;
using Broker.Infrastructure.Security;
using Broker.IntegrationTests.Support;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Storage;

/// <summary>
/// docs/operations.md, rotating the KEK: secrets are stored under KEK A, the broker is rotated to B (A kept in
/// PreviousKeys) and writes a key of its own under B; `rewrap-key-ring` then moves the ring to B so A can go.
/// </summary>
public sealed class KeyRingRewrapTests : IAsyncLifetime
{
    private const string Command = "rewrap-key-ring";
    private static readonly string KekA = BrokerWorld.KeyEncryptionKey;
    private static readonly string KekB = Convert.ToBase64String(Enumerable.Range(101, 32).Select(i => (byte)i).ToArray());
    private static readonly string KekC = Convert.ToBase64String(Enumerable.Range(201, 32).Select(i => (byte)i).ToArray());

    private BrokerWorld _world = null!;
    private List<(TestAccount Account, string ApiKey, string Token)> _stored = [];

    public async Task InitializeAsync()
    {
        _world = await BrokerWorld.StartAsync();
        // Password, client secret and tokens, all encrypted with a Data Protection key that KEK A encrypts.
        _stored = await _world.StoredTokensAsync(DialectNames.SimpleJwt, DialectNames.OAuth2Password);

        await RestartAsync(current: KekB, previous: [KekA]);
        // A Data Protection key created after the rotation, so the ring holds one element under each KEK.
        _world.Broker.Services.GetRequiredService<IKeyManager>()
            .CreateNewKey(DateTimeOffset.UtcNow.AddDays(1), DateTimeOffset.UtcNow.AddDays(90));
        (await KeksAsync()).ShouldBe([Fingerprint(KekA), Fingerprint(KekB)]);
    }

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task After_the_rewrap_command_every_element_is_under_the_new_kek_and_a_broker_without_the_old_one_reads_every_secret()
    {
        var masterKeys = await MasterKeysAsync(new KeyEncryptionKeys(Decode(KekB), [Decode(KekA)]));

        var (exit, stdout, stderr) = await BrokerProcess.RunCommandAsync(_world.Settings, Command);
        var output = stdout + stderr;

        exit.ShouldBe(0, output);
        output.ShouldContain($"key-encryption key {Fingerprint(KekB)}: 1 element(s) re-encrypted, 1 already current");
        (await KeksAsync()).ShouldBe([Fingerprint(KekB), Fingerprint(KekB)]);
        // The same Data Protection keys, now readable with B alone.
        (await MasterKeysAsync(new KeyEncryptionKeys(Decode(KekB), []))).ShouldBe(masterKeys);
        ShouldHoldNoKeyMaterial(output, masterKeys);

        await RestartAsync(current: KekB, previous: []);
        foreach (var (account, key, token) in _stored)
        {
            (await _world.Broker.TokenAsync(account.Name, key)).ShouldBe(token, $"{account.Name}: the stored token, decrypted");
            var tested = await _world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{account.Name}/test");
            tested["logged_in"]!.GetValue<bool>().ShouldBeTrue($"{account.Name}: logged in with the stored credentials: {tested}");
        }
    }

    [Fact]
    public async Task Rewrapping_a_second_time_changes_nothing()
    {
        var rewrap = _world.Broker.Services.GetRequiredService<KeyRingRewrap>();
        var first = await rewrap.RunAsync();
        var afterFirst = await RowsAsync();

        var second = await rewrap.RunAsync();

        (first.Rewrapped, first.AlreadyCurrent).ShouldBe((1, 1));
        (second.Rewrapped, second.AlreadyCurrent).ShouldBe((0, 2));
        (await RowsAsync()).ShouldBe(afterFirst);
        _world.Logs.Lines.Count(l => l.Contains("Re-encrypted key-ring element", StringComparison.Ordinal)).ShouldBe(1);
        ShouldHoldNoKeyMaterial(string.Join('\n', _world.Logs.Lines), await MasterKeysAsync(new KeyEncryptionKeys(Decode(KekB), [])));
    }

    [Fact]
    public async Task Two_rewraps_at_once_re_encrypt_each_element_once()
    {
        var rewrap = _world.Broker.Services.GetRequiredService<KeyRingRewrap>();

        var results = await Task.WhenAll(rewrap.RunAsync(), rewrap.RunAsync());

        // The table lock makes the second wait for the first and then find everything current.
        results.Sum(r => r.Rewrapped).ShouldBe(1);
        results.Select(r => r.AlreadyCurrent).Order().ShouldBe([1, 2]);
        (await KeksAsync()).ShouldBe([Fingerprint(KekB), Fingerprint(KekB)]);
    }

    [Fact]
    public async Task An_element_under_a_kek_that_is_not_configured_fails_the_rewrap_naming_its_fingerprint_and_no_row_changes()
    {
        var masterKeys = await MasterKeysAsync(new KeyEncryptionKeys(Decode(KekB), [Decode(KekA)]));
        var before = await RowsAsync();
        // Rotated on to C with B kept but A dropped too early: B's element could be rewrapped, A's cannot.
        var settings = new Dictionary<string, string?>(_world.Settings)
        {
            ["Broker:KeyEncryption:Key"] = KekC,
            ["Broker:KeyEncryption:PreviousKeys:0"] = KekB,
        };

        var (exit, stdout, stderr) = await BrokerProcess.RunCommandAsync(settings, Command);
        var output = stdout + stderr;

        exit.ShouldNotBe(0, output);
        output.ShouldContain($"key-encryption key(s) {Fingerprint(KekA)}, which are not configured");
        output.ShouldContain("Nothing was changed.");
        output.ShouldNotContain(Fingerprint(KekB)); // only the missing KEK is named
        (await RowsAsync()).ShouldBe(before);
        ShouldHoldNoKeyMaterial(output, masterKeys);
    }

    private async Task RestartAsync(string current, string[] previous)
    {
        _world.Settings["Broker:KeyEncryption:Key"] = current;
        foreach (var key in _world.Settings.Keys.Where(k => k.StartsWith("Broker:KeyEncryption:PreviousKeys:", StringComparison.Ordinal)).ToList())
            _world.Settings.Remove(key);
        for (var i = 0; i < previous.Length; i++) _world.Settings[$"Broker:KeyEncryption:PreviousKeys:{i}"] = previous[i];
        await _world.RestartBrokersAsync();
    }

    private void ShouldHoldNoKeyMaterial(string text, IEnumerable<string> masterKeys)
    {
        foreach (var secret in new[] { KekA, KekB, KekC }.Concat(masterKeys).Concat(_world.Secrets).Concat(_stored.Select(s => s.Token)))
            text.ShouldNotContain(secret);
        text.ShouldNotContain("<masterKey");
    }

    private async Task<List<(int Id, string Xml)>> RowsAsync() =>
        (await _world.RowsAsync("SELECT id, xml FROM data_protection_keys ORDER BY id")).Select(row => ((int)row[0]!, (string)row[1]!)).ToList();

    /// <summary>The fingerprint of the KEK of each element, in row order.</summary>
    private async Task<List<string>> KeksAsync() =>
        (await RowsAsync()).Select(row => KeyRingDecryptor.KekOf(EncryptedKey(row.Xml))!).ToList();

    /// <summary>The plaintext Data Protection master keys, in row order: what must never be written or logged.</summary>
    private async Task<List<string>> MasterKeysAsync(KeyEncryptionKeys keys) =>
        (await RowsAsync())
            .Select(row => KeyRingDecryptor.Decrypt(EncryptedKey(row.Xml), keys).Descendants().Single(e => e.Name.LocalName == "value").Value)
            .ToList();

    private static XElement EncryptedKey(string xml) => XElement.Parse(xml).Descendants("encryptedKey").Single();

    private static byte[] Decode(string kek) => Convert.FromBase64String(kek);

    private static string Fingerprint(string kek) => KeyEncryptionKeys.IdOf(Decode(kek));
}
