using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Storage;

/// <summary>A dump of the database, the logs and the admin API never show a secret or a token.</summary>
public sealed class SecretStorageTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task No_plaintext_secret_or_token_is_in_any_table_log_or_admin_response()
    {
        var served = new List<string>();
        // Accounts a person connects in a browser: Connect/AuthorizationCodeConnectTests scans their tables.
        foreach (var dialect in DialectNames.All.Where(d => DialectNames.Parse(d).LogsIn()))
        {
            var account = await _world.AccountAsync(dialect);
            var key = await _world.ConsumerAsync(account.Name);
            _world.Secrets.Add(key);
            served.Add(await _world.Broker.TokenAsync(account.Name, key));
            _world.Clock.Advance(TimeSpan.FromMinutes(5));
            served.Add(await _world.Broker.TokenAsync(account.Name, key)); // refreshed: a rotated refresh token is stored
        }
        await _world.AdminAsync(HttpMethod.Post, "/admin/providers", new
        {
            name = "with-secret", dialect = "oauth2-password", token_url = "https://auth.example/o/token/",
            client_id = "shared", client_secret = "provider-level-secret-value",
        }, HttpStatusCode.Created);
        _world.Secrets.Add("provider-level-secret-value");
        var everything = _world.Secrets.Concat(served).Append(BrokerWorld.AdminKey).ToList();

        var dump = await DatabaseDump.AllTablesAsync(_world.ConnectionString);
        dump.ShouldNotBeEmpty();
        foreach (var secret in everything) dump.ShouldNotContain(secret);

        foreach (var line in _world.Logs.Lines)
        foreach (var secret in everything)
            line.ShouldNotContain(secret);

        foreach (var path in new[] { "/admin/accounts", "/admin/providers", "/admin/clients" })
        {
            var text = await (await _world.Broker.GetAsync(path, BrokerWorld.AdminKey)).Content.ReadAsStringAsync();
            foreach (var secret in everything) text.ShouldNotContain(secret);
        }
    }

    [Fact]
    public async Task The_key_ring_in_the_database_is_encrypted_with_the_key_encryption_key()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        await _world.Broker.TokenAsync(account.Name, await _world.ConsumerAsync(account.Name));

        var keys = await _world.ColumnAsync<string>("SELECT xml FROM data_protection_keys");

        keys.ShouldNotBeEmpty();
        foreach (var xml in keys)
        {
            xml.ShouldContain("KeyRingDecryptor");
            xml.ShouldContain("<encryptedKey");
            xml.ShouldNotContain("<masterKey xmlns"); // the unencrypted form
        }
    }

    [Fact]
    public async Task Secrets_are_stored_as_ciphertext_that_differs_per_kind()
    {
        var account = await _world.AccountAsync(DialectNames.SlideRule);
        await _world.Broker.TokenAsync(account.Name, await _world.ConsumerAsync(account.Name));

        var row = (await _world.RowsAsync(
            "SELECT password_encrypted, access_token_encrypted, refresh_token_encrypted FROM accounts WHERE name = $1", account.Name)).ShouldHaveSingleItem();
        foreach (var ciphertext in row) ciphertext.ShouldBeOfType<string>().ShouldStartWith("CfDJ8"); // Data Protection's payload header
        ((string)row[0]!).ShouldNotContain(account.Password);
    }
}
