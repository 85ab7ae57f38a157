using System.Buffers.Text;
using System.Text;
using Microsoft.AspNetCore.DataProtection;

namespace Broker.Infrastructure.Security;

public enum SecretKind
{
    Password,
    ClientSecret,
    AccessToken,
    RefreshToken,
    WebhookSecret,
    PkceVerifier,
}

/// <summary>
/// Encrypts secrets before they reach the database, each kind under its own Data Protection purpose, so a
/// ciphertext copied from one column into another does not decrypt.
/// </summary>
public sealed class SecretProtector
{
    private readonly IDataProtector[] _protectors;

    public SecretProtector(IDataProtectionProvider provider)
    {
        _protectors = Enum.GetValues<SecretKind>()
            .Select(kind => provider.CreateProtector("Broker.Secrets", kind.ToString()))
            .ToArray();
    }

    public string Protect(SecretKind kind, string plaintext) => _protectors[(int)kind].Protect(plaintext);

    public string Unprotect(SecretKind kind, string ciphertext) => _protectors[(int)kind].Unprotect(ciphertext);

    public string? ProtectOrNull(SecretKind kind, string? plaintext) => plaintext is null ? null : Protect(kind, plaintext);

    public string? UnprotectOrNull(SecretKind kind, string? ciphertext) => ciphertext is null ? null : Unprotect(kind, ciphertext);

    /// <summary>
    /// Decrypts even under a revoked key, for <see cref="SecretReencryption"/> only: an instance that had not yet
    /// seen a revocation may have written a secret under the old key, and re-encrypting is how that secret is saved.
    /// </summary>
    public string UnprotectEvenIfRevoked(SecretKind kind, string ciphertext)
    {
        var protector = (IPersistedDataProtector)_protectors[(int)kind];
        var plaintext = protector.DangerousUnprotect(Base64Url.DecodeFromChars(ciphertext), ignoreRevocationErrors: true, out _, out _);
        return Encoding.UTF8.GetString(plaintext);
    }

    /// <summary>
    /// The id of the Data Protection key a payload names: the payload is a 4-byte magic header, then the key id
    /// (a GUID, 16 bytes), then the encrypted data. Null if the text is not such a payload.
    /// </summary>
    public static Guid? KeyIdOf(string ciphertext)
    {
        if (!Base64Url.IsValid(ciphertext)) return null;
        var payload = Base64Url.DecodeFromChars(ciphertext);
        return payload.Length >= 20 && payload.AsSpan(0, 4).SequenceEqual(MagicHeader) ? new Guid(payload.AsSpan(4, 16)) : null;
    }

    private static ReadOnlySpan<byte> MagicHeader => [0x09, 0xF0, 0xC9, 0xF0];
}
