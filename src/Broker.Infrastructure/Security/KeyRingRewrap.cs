using System.Security.Cryptography;
using System.Xml.Linq;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Broker.Infrastructure.Security;

/// <summary>
/// Re-encrypts every element of the key ring that an older key-encryption key encrypted with the current one,
/// so that after a rotation the old KEK can be removed from <c>PreviousKeys</c> (the <c>rewrap-key-ring</c> command).
/// All or nothing: one transaction, and an element that cannot be decrypted fails the whole run before any row
/// is written. Only the <c>encryptedKey</c> element inside each stored key changes; the plaintext key exists
/// only in memory, between decryption and encryption.
/// </summary>
public sealed partial class KeyRingRewrap(NpgsqlDataSource dataSource, KeyEncryptionKeys keys, ILogger<KeyRingRewrap> logger)
{
    public async Task<KeyRingRewrapResult> RunAsync(CancellationToken ct = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);

        // SHARE ROW EXCLUSIVE conflicts with itself and with writes, not with reads: a second rewrap waits for
        // this one (and then finds everything current), a new key stored meanwhile waits a moment rather than
        // slipping in under an old KEK, and instances keep reading the ring.
        await using (var lockTable = new NpgsqlCommand("LOCK TABLE data_protection_keys IN SHARE ROW EXCLUSIVE MODE", connection, tx))
            await lockTable.ExecuteNonQueryAsync(ct);

        var rows = new List<(int Id, XElement Xml)>();
        await using (var select = new NpgsqlCommand("SELECT id, xml FROM data_protection_keys ORDER BY id", connection, tx))
        await using (var reader = await select.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) rows.Add((reader.GetInt32(0), XElement.Parse(reader.GetString(1))));

        // Every KEK needed must be at hand before anything is decrypted, let alone written.
        var missing = rows
            .SelectMany(row => EncryptedKeys(row.Xml).Select(e => (row.Id, Kek: KeyRingDecryptor.KekOf(e) ?? "(none)")))
            .Where(e => !keys.IsConfigured(e.Kek))
            .ToList();
        if (missing.Count > 0)
            throw new KeyRingRewrapException(
                $"Cannot re-encrypt the key ring: element(s) {string.Join(", ", missing.Select(m => m.Id).Distinct())} are encrypted with " +
                $"key-encryption key(s) {string.Join(", ", missing.Select(m => m.Kek).Distinct())}, which are not configured " +
                "(add them to Broker:KeyEncryption:PreviousKeys). Nothing was changed.");

        var encryptor = new KeyRingEncryptor(keys);
        int rewrapped = 0, current = 0, unencrypted = 0;
        foreach (var (id, xml) in rows)
        {
            var stale = EncryptedKeys(xml).Where(e => KeyRingDecryptor.KekOf(e) != keys.CurrentId).ToList();
            if (stale.Count == 0)
            {
                if (EncryptedKeys(xml).Any()) current++;
                else unencrypted++; // a revocation: nothing secret in it
                continue;
            }

            var from = string.Join(", ", stale.Select(e => KeyRingDecryptor.KekOf(e)).Distinct());
            foreach (var encrypted in stale)
            {
                XElement plaintext;
                try
                {
                    plaintext = KeyRingDecryptor.Decrypt(encrypted, keys);
                }
                catch (CryptographicException e)
                {
                    // The message of AesGcm or of ours; neither contains key material.
                    throw new KeyRingRewrapException($"Key-ring element {id} could not be decrypted ({e.Message}). Nothing was changed.", e);
                }
                encrypted.ReplaceWith(encryptor.Encrypt(plaintext).EncryptedElement);
            }

            await using var update = new NpgsqlCommand("UPDATE data_protection_keys SET xml = $1 WHERE id = $2", connection, tx);
            update.Parameters.Add(new() { Value = xml.ToString(SaveOptions.DisableFormatting) });
            update.Parameters.Add(new() { Value = id });
            await update.ExecuteNonQueryAsync(ct);
            LogRewrapped(id, from, keys.CurrentId);
            rewrapped++;
        }

        await tx.CommitAsync(ct);
        return new KeyRingRewrapResult(rewrapped, current, unencrypted, keys.CurrentId);
    }

    /// <summary>The elements <see cref="KeyRingEncryptor"/> wrote into a stored key (inside Data Protection's <c>encryptedSecret</c>).</summary>
    private static IEnumerable<XElement> EncryptedKeys(XElement stored) => stored.Descendants("encryptedKey");

    [LoggerMessage(Level = LogLevel.Information, Message = "Re-encrypted key-ring element {Id} from key-encryption key {From} to {To}")]
    private partial void LogRewrapped(int id, string from, string to);
}

/// <param name="Rewrapped">Elements re-encrypted with the current KEK.</param>
/// <param name="AlreadyCurrent">Elements that were already encrypted with it, left as they were.</param>
/// <param name="Unencrypted">Elements with nothing encrypted in them (revocations), left as they were.</param>
/// <param name="CurrentKek">The fingerprint of the current KEK.</param>
public sealed record KeyRingRewrapResult(int Rewrapped, int AlreadyCurrent, int Unencrypted, string CurrentKek);

/// <summary>The rewrap could not be done; the message says why (never with key material) and that nothing changed.</summary>
public sealed class KeyRingRewrapException(string message, Exception? inner = null) : Exception(message, inner);
