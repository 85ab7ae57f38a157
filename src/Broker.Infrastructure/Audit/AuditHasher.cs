using System.Security.Cryptography;
using System.Text;
using Broker.Infrastructure.Security;
using Microsoft.Extensions.Options;

namespace Broker.Infrastructure.Audit;

/// <summary>
/// The keyed hash that stands for a token in the audit trail (as Vault's audit devices do): equal tokens give
/// equal hashes, so a leaked token can be traced to the callers it was served to, but the trail alone reveals
/// nothing, and without the key no one can test guesses against it. The key is never in the database.
/// </summary>
public sealed class AuditHasher
{
    private readonly byte[] _key;

    public AuditHasher(IOptions<AuditOptions> options, KeyEncryptionKeys keys)
    {
        _key = options.Value.HmacKey is { Length: > 0 } configured
            ? Convert.FromBase64String(configured)
            : HKDF.DeriveKey(HashAlgorithmName.SHA256, keys.Current, 32, info: "broker-audit-hmac"u8.ToArray());
    }

    /// <summary>HMAC-SHA256 of the value, lowercase hex (64 characters).</summary>
    public string Hash(string value) => Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(value)));

    /// <summary>Whether a configured <see cref="AuditOptions.HmacKey"/> is usable (checked at start-up).</summary>
    public static bool IsValidKey(string? key)
    {
        if (string.IsNullOrEmpty(key)) return true;
        var bytes = new byte[key.Length];
        return Convert.TryFromBase64String(key, bytes, out var length) && length >= 32;
    }
}
