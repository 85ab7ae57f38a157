using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Broker.Infrastructure.Security;

/// <summary>
/// The <c>reencrypt-secrets</c> command, for a leaked KEK: rewrapping the key ring changes only the KEK around the
/// Data Protection keys, so whoever has the old KEK and an old dump has those keys. This creates a new Data
/// Protection key (the default at once), re-encrypts every stored secret under it, and then revokes every other key,
/// so no stored secret depends on a key that may be known. Running it again is safe: it does the same with yet
/// another new key, and also saves secrets that an instance still on an old key wrote meanwhile (they are read
/// even if their key is revoked).
/// </summary>
public sealed partial class SecretReencryption(
    NpgsqlDataSource dataSource,
    IKeyManager keyManager,
    IOptions<KeyManagementOptions> keyManagement,
    SecretProtector secrets,
    ILogger<SecretReencryption> logger)
{
    private static readonly (string Table, string Key, (string Column, SecretKind Kind)[] Columns)[] Tables =
    [
        // Providers before accounts: the order in which the admin API locks them, so neither waits on the other forever.
        ("providers", "id", [("client_secret_encrypted", SecretKind.ClientSecret)]),
        ("accounts", "id",
        [
            ("password_encrypted", SecretKind.Password),
            ("client_secret_encrypted", SecretKind.ClientSecret),
            ("access_token_encrypted", SecretKind.AccessToken),
            ("refresh_token_encrypted", SecretKind.RefreshToken),
        ]),
        ("webhooks", "id", [("secret_encrypted", SecretKind.WebhookSecret)]),
        // Pending connect links: a verifier left under a revoked key would end its link unusable.
        ("connect_attempts", "state_hash", [("verifier_encrypted", SecretKind.PkceVerifier)]),
    ];

    public async Task<SecretReencryptionResult> RunAsync(CancellationToken ct = default)
    {
        // Data Protection picks the default key by the system clock, so the activation is on that clock, not on
        // the injected TimeProvider. Activated now, the key is the newest active one and thus this process's default.
        var now = DateTimeOffset.UtcNow;
        var newKey = keyManager.CreateNewKey(activationDate: now, expirationDate: now + keyManagement.Value.NewKeyLifetime);
        LogNewKey(newKey.KeyId);

        int reencrypted = 0;
        var failures = new List<string>();
        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        await using (var tx = await connection.BeginTransactionAsync(ct))
        {
            foreach (var (table, key, columns) in Tables)
                reencrypted += await ReencryptAsync(connection, tx, table, key, columns, newKey.KeyId, failures, ct);

            if (failures.Count > 0)
                throw new SecretReencryptionException(
                    $"Cannot re-encrypt the secrets: {failures.Count} could not be decrypted ({string.Join("; ", failures.Take(10))}" +
                    $"{(failures.Count > 10 ? "; ..." : "")}). No secret was re-encrypted and no key was revoked; " +
                    $"the new key {newKey.KeyId} stays the default. Enter those secrets again (PATCH the account or provider) and run the command again.");
            await tx.CommitAsync(ct);
        }

        // Only now that nothing stored depends on them. A revoked key no longer decrypts anything, which is the point.
        var older = keyManager.GetAllKeys().Where(k => k.KeyId != newKey.KeyId && !k.IsRevoked).ToList();
        foreach (var key in older)
            keyManager.RevokeKey(key.KeyId, $"Replaced by {newKey.KeyId}: every secret was re-encrypted by the reencrypt-secrets command.");
        LogRevoked(older.Count, newKey.KeyId);

        return new SecretReencryptionResult(reencrypted, newKey.KeyId, older.Count);
    }

    /// <summary>
    /// Locks every row of the table (the token path locks an account's row before it writes new tokens, so no refresh
    /// interleaves) and writes each secret back encrypted under <paramref name="newKeyId"/>. Secrets that cannot be
    /// decrypted are named in <paramref name="failures"/> (table, column, row id; never a value).
    /// </summary>
    private async Task<int> ReencryptAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string table, string key,
        (string Column, SecretKind Kind)[] columns, Guid newKeyId, List<string> failures, CancellationToken ct)
    {
        var list = string.Join(", ", columns.Select(c => c.Column));
        var rows = new List<(object Id, string?[] Values)>();
        await using (var select = new NpgsqlCommand($"SELECT {key}, {list} FROM {table} ORDER BY {key} FOR UPDATE", connection, tx))
        await using (var reader = await select.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct))
                rows.Add((reader.GetValue(0), columns.Select((_, i) => reader.IsDBNull(i + 1) ? null : reader.GetString(i + 1)).ToArray()));

        var count = 0;
        foreach (var (rowKey, values) in rows)
        {
            // A state's hash names the row as well as an id does; it is no secret (the state itself is not stored).
            var id = rowKey is byte[] bytes ? Convert.ToHexString(bytes) : rowKey.ToString();
            var changed = false;
            for (var i = 0; i < columns.Length; i++)
            {
                if (values[i] is not { } ciphertext) continue;
                var (column, kind) = columns[i];
                string plaintext;
                try
                {
                    plaintext = secrets.UnprotectEvenIfRevoked(kind, ciphertext);
                }
                catch (Exception e) when (e is CryptographicException or FormatException)
                {
                    // Data Protection's messages name at most a key id, never key material or plaintext.
                    failures.Add($"{table}.{column} of row {id}: {e.Message}");
                    continue;
                }
                values[i] = secrets.Protect(kind, plaintext);
                // The whole point is that no secret stays under an old key: check the key the payload names.
                if (SecretProtector.KeyIdOf(values[i]!) != newKeyId)
                    throw new SecretReencryptionException(
                        $"Data Protection did not encrypt with the new key {newKeyId} ({table}.{column} of row {id} names " +
                        $"{SecretProtector.KeyIdOf(values[i]!)?.ToString() ?? "no key"}). No secret was re-encrypted and no key was revoked.");
                changed = true;
                count++;
            }
            if (!changed || failures.Count > 0) continue;

            var assignments = string.Join(", ", columns.Select((c, i) => $"{c.Column} = ${i + 1}"));
            await using var update = new NpgsqlCommand($"UPDATE {table} SET {assignments} WHERE {key} = ${columns.Length + 1}", connection, tx);
            foreach (var value in values) update.Parameters.Add(new() { Value = (object?)value ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            update.Parameters.Add(new() { Value = rowKey });
            await update.ExecuteNonQueryAsync(ct);
        }
        return count;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Created Data Protection key {KeyId} to re-encrypt every stored secret under")]
    private partial void LogNewKey(Guid keyId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Revoked {Count} Data Protection key(s) older than {KeyId}")]
    private partial void LogRevoked(int count, Guid keyId);
}

/// <param name="Reencrypted">Secrets (column values) re-encrypted under the new key.</param>
/// <param name="NewKeyId">The new Data Protection key, now the default.</param>
/// <param name="Revoked">Other keys revoked (those revoked before are not counted).</param>
public sealed record SecretReencryptionResult(int Reencrypted, Guid NewKeyId, int Revoked);

/// <summary>The re-encryption could not be done; the message names what failed (never a secret) and what changed.</summary>
public sealed class SecretReencryptionException(string message) : Exception(message);
