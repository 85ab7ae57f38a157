using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Broker.Infrastructure.Security;

/// <summary>
/// API keys are 256 random bits; only their SHA-256 is stored. A fast hash is right here (unlike for passwords):
/// the key has full entropy, so there is nothing to brute-force.
/// </summary>
public static class ApiKeys
{
    public const string Prefix = "brk_";

    public static string New() => Prefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>The same SHA-256 as <see cref="Hash"/>, as a value: no allocation per authenticated request.</summary>
    public static ApiKeyDigest Digest(ReadOnlySpan<char> key)
    {
        Span<byte> utf8 = key.Length <= 1024 ? stackalloc byte[Encoding.UTF8.GetMaxByteCount(key.Length)] : new byte[Encoding.UTF8.GetMaxByteCount(key.Length)];
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(utf8[..Encoding.UTF8.GetBytes(key, utf8)], hash);
        return ApiKeyDigest.From(hash);
    }

    /// <summary>What is shown of a key in lists: enough to tell keys apart, useless to an attacker.</summary>
    public static string DisplayPrefix(string key) => key.Length <= 12 ? key[..Math.Min(4, key.Length)] : key[..12];

    public static bool HashesEqual(byte[] a, byte[] b) => CryptographicOperations.FixedTimeEquals(a, b);
}
