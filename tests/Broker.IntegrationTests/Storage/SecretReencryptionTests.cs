using System.Net;
using System.Text.RegularExpressions;
using Broker.Domain;
using Broker.Infrastructure.Security;
using Broker.IntegrationTests.Support;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Storage;

/// <summary>
/// docs/operations.md, if the KEK leaked: `reencrypt-secrets` moves every stored secret to a new Data Protection key
/// and revokes the older ones, so the keys an old KEK and an old dump reveal protect nothing any more.
/// </summary>
public sealed partial class SecretReencryptionTests : IAsyncLifetime
{
    private const string Command = "reencrypt-secrets";
    private const string ProviderSecret = "provider-level-secret-value";

    private BrokerWorld _world = null!;
    private List<(TestAccount Account, string ApiKey, string Token)> _stored = [];

    public async Task InitializeAsync()
    {
        _world = await BrokerWorld.StartAsync();
        // Passwords, an account's client secret, access and refresh tokens, and a provider's client secret.
        _stored = await _world.StoredTokensAsync(DialectNames.SimpleJwt, DialectNames.OAuth2Password);
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers", new
        {
            name = "with-secret", dialect = "oauth2-password", token_url = "https://auth.example/o/token/",
            client_id = "shared", client_secret = ProviderSecret,
        }, HttpStatusCode.Created);
        _world.Secrets.Add(ProviderSecret);
    }

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task After_the_command_every_secret_is_under_a_new_key_the_old_keys_are_revoked_and_a_restarted_broker_serves_every_token()
    {
        var oldKeys = KeyManager().GetAllKeys().Select(k => k.KeyId).ToList();
        var before = await SecretsAsync();

        var (exit, stdout, stderr) = await BrokerProcess.RunCommandAsync(_world.Settings, Command);
        var output = stdout + stderr;

        exit.ShouldBe(0, output);
        var newKey = NewKeyIn(stdout);
        oldKeys.ShouldNotContain(newKey);
        stdout.ShouldContain($"{before.Count} secret(s) re-encrypted, {oldKeys.Count} older key(s) revoked");
        var after = await SecretsAsync();
        after.Select(s => s.Where).ShouldBe(before.Select(s => s.Where)); // none lost
        after.Count.ShouldBe(8); // 2 passwords, 2 client secrets (an account's, a provider's), 2 access and 2 refresh tokens
        foreach (var (where, ciphertext) in after) SecretProtector.KeyIdOf(ciphertext).ShouldBe(newKey, where);
        ShouldHoldNoSecret(output, before.Concat(after).Select(s => s.Ciphertext));

        await _world.RestartBrokersAsync();
        var ring = KeyManager().GetAllKeys().ToDictionary(k => k.KeyId);
        ring[newKey].IsRevoked.ShouldBeFalse();
        foreach (var old in oldKeys) ring[old].IsRevoked.ShouldBeTrue($"key {old}");
        foreach (var (account, key, token) in _stored)
        {
            (await _world.Broker.TokenAsync(account.Name, key)).ShouldBe(token, $"{account.Name}: the stored token, decrypted");
            var tested = await _world.AdminAsync(HttpMethod.Post, $"/admin/accounts/{account.Name}/test");
            tested["logged_in"]!.GetValue<bool>().ShouldBeTrue($"{account.Name}: logged in with the stored password: {tested}");
        }
    }

    [Fact]
    public async Task A_pending_connect_links_verifier_is_re_encrypted_too()
    {
        const string verifier = "pending-pkce-verifier-0123456789-abcdefghijklmnop";
        var protector = _world.Broker.Services.GetRequiredService<SecretProtector>();
        (await _world.ExecuteAsync("""
            INSERT INTO connect_attempts (state_hash, account_id, provider_id, verifier_encrypted, redirect_uri, created_at, expires_at)
            SELECT '\x01'::bytea, id, provider_id, $1, 'https://broker.example/oauth/callback', now(), now() + interval '10 minutes'
            FROM accounts LIMIT 1
            """, protector.Protect(SecretKind.PkceVerifier, verifier))).ShouldBe(1);

        var (exit, stdout, stderr) = await BrokerProcess.RunCommandAsync(_world.Settings, Command);
        exit.ShouldBe(0, stdout + stderr);
        var newKey = NewKeyIn(stdout);
        var stored = await _world.ScalarAsync<string>("SELECT verifier_encrypted FROM connect_attempts");
        SecretProtector.KeyIdOf(stored).ShouldBe(newKey);
        await _world.RestartBrokersAsync();
        _world.Broker.Services.GetRequiredService<SecretProtector>().Unprotect(SecretKind.PkceVerifier, stored).ShouldBe(verifier);
    }

    [Fact]
    public async Task Running_it_again_re_encrypts_under_yet_another_key_and_revokes_the_first_new_one()
    {
        var first = await BrokerProcess.RunCommandAsync(_world.Settings, Command);
        var second = await BrokerProcess.RunCommandAsync(_world.Settings, Command);

        first.ExitCode.ShouldBe(0, first.Output + first.Error);
        second.ExitCode.ShouldBe(0, second.Output + second.Error);
        var (firstKey, secondKey) = (NewKeyIn(first.Output), NewKeyIn(second.Output));
        secondKey.ShouldNotBe(firstKey);
        second.Output.ShouldContain("8 secret(s) re-encrypted, 1 older key(s) revoked"); // the ones before were revoked already
        foreach (var (where, ciphertext) in await SecretsAsync()) SecretProtector.KeyIdOf(ciphertext).ShouldBe(secondKey, where);

        await _world.RestartBrokersAsync();
        KeyManager().GetAllKeys().Single(k => !k.IsRevoked).KeyId.ShouldBe(secondKey);
        var (account, apiKey, token) = _stored[1];
        (await _world.Broker.TokenAsync(account.Name, apiKey)).ShouldBe(token);
    }

    [Fact]
    public async Task A_secret_that_cannot_be_decrypted_fails_the_command_naming_its_row_and_nothing_is_re_encrypted_or_revoked()
    {
        var account = _stored[0].Account;
        // A payload in Data Protection's format, naming a key that is in no key ring.
        var bogus = Base64UrlOf([0x09, 0xF0, 0xC9, 0xF0, .. Guid.NewGuid().ToByteArray(), .. new byte[48]]);
        var id = await _world.ScalarAsync<Guid>("UPDATE accounts SET refresh_token_encrypted = $1 WHERE name = $2 RETURNING id", bogus, account.Name);
        var before = await SecretsAsync();
        var keysBefore = KeyManager().GetAllKeys().Select(k => k.KeyId).ToList();

        var (exit, stdout, stderr) = await BrokerProcess.RunCommandAsync(_world.Settings, Command);

        exit.ShouldBe(1, stdout + stderr);
        stderr.ShouldContain($"accounts.refresh_token_encrypted of row {id}");
        stderr.ShouldContain("No secret was re-encrypted and no key was revoked");
        ShouldHoldNoSecret(stdout + stderr, before.Select(s => s.Ciphertext));
        (await SecretsAsync()).ShouldBe(before);
        await _world.RestartBrokersAsync();
        KeyManager().GetAllKeys().Where(k => keysBefore.Contains(k.KeyId)).ShouldAllBe(k => !k.IsRevoked);
    }

    private IKeyManager KeyManager() => _world.Broker.Services.GetRequiredService<IKeyManager>();

    private static Guid NewKeyIn(string output) =>
        Guid.Parse(NewKeyLine().Match(output) is { Success: true } match ? match.Groups[1].Value : throw new ShouldAssertException($"No new key in: {output}"));

    [GeneratedRegex("new Data Protection key ([0-9a-f-]{36})")]
    private static partial Regex NewKeyLine();

    private void ShouldHoldNoSecret(string text, IEnumerable<string> ciphertexts)
    {
        foreach (var secret in _world.Secrets.Concat(_stored.Select(s => s.Token)).Concat(ciphertexts).Append(BrokerWorld.KeyEncryptionKey))
            text.ShouldNotContain(secret);
        text.ShouldNotContain("<masterKey");
    }

    /// <summary>Every stored encrypted column value, named table.column:row, in a stable order.</summary>
    private async Task<List<(string Where, string Ciphertext)>> SecretsAsync() =>
        (await _world.RowsAsync("""
            SELECT 'providers.client_secret_encrypted:' || id, client_secret_encrypted FROM providers
            UNION ALL SELECT 'accounts.password_encrypted:' || id, password_encrypted FROM accounts
            UNION ALL SELECT 'accounts.client_secret_encrypted:' || id, client_secret_encrypted FROM accounts
            UNION ALL SELECT 'accounts.access_token_encrypted:' || id, access_token_encrypted FROM accounts
            UNION ALL SELECT 'accounts.refresh_token_encrypted:' || id, refresh_token_encrypted FROM accounts
            ORDER BY 1
            """)).Where(row => row[1] is not null).Select(row => ((string)row[0]!, (string)row[1]!)).ToList();

    private static string Base64UrlOf(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
