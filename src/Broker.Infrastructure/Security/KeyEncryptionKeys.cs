using System.Security.Cryptography;
using System.Text;

namespace Broker.Infrastructure.Security;

/// <summary>The current key-encryption key and the former ones still accepted for decryption.</summary>
public sealed class KeyEncryptionKeys
{
    private readonly Dictionary<string, byte[]> _byId;

    public KeyEncryptionKeys(byte[] current, IEnumerable<byte[]> previous)
    {
        if (current.Length != 32) throw new InvalidOperationException("The key-encryption key must be 32 bytes (base64 of 32 random bytes).");
        Current = current;
        CurrentId = IdOf(current);
        _byId = previous.Append(current).ToDictionary(IdOf, k => k);
    }

    public byte[] Current { get; }

    /// <summary>A short fingerprint naming the key in the encrypted XML, so rotation knows which key to use.</summary>
    public string CurrentId { get; }

    public bool IsConfigured(string id) => _byId.ContainsKey(id);

    public byte[] ById(string id) =>
        _byId.TryGetValue(id, out var key)
            ? key
            : throw new CryptographicException($"The Data Protection key ring was encrypted with key-encryption key {id}, which is not configured.");

    public static string IdOf(byte[] key) =>
        Convert.ToHexStringLower(SHA256.HashData([.. Encoding.ASCII.GetBytes("broker-kek-id:"), .. key]))[..16];

    /// <summary>Reads the options; in Development generates and keeps a local key when none is configured.</summary>
    public static KeyEncryptionKeys Load(KeyEncryptionOptions options, string contentRoot, bool isDevelopment)
    {
        var encoded = options.Key;
        if (string.IsNullOrWhiteSpace(encoded) && !string.IsNullOrWhiteSpace(options.KeyFile))
            encoded = File.ReadAllText(options.KeyFile).Trim();

        if (string.IsNullOrWhiteSpace(encoded))
        {
            if (!isDevelopment)
                throw new InvalidOperationException(
                    "No key-encryption key: set Broker__KeyEncryption__Key (base64 of 32 random bytes) or Broker__KeyEncryption__KeyFile. " +
                    "Without it the key ring in the database cannot be protected.");
            encoded = DevelopmentKey(Path.Combine(contentRoot, options.DevelopmentKeyFile));
        }

        return new KeyEncryptionKeys(Decode(encoded, "Broker:KeyEncryption:Key"),
            options.PreviousKeys.Select((k, i) => Decode(k, $"Broker:KeyEncryption:PreviousKeys:{i}")));
    }

    private static byte[] Decode(string encoded, string setting)
    {
        try
        {
            return Convert.FromBase64String(encoded.Trim());
        }
        catch (FormatException)
        {
            throw new InvalidOperationException($"{setting} is not valid base64.");
        }
    }

    private static string DevelopmentKey(string path)
    {
        if (File.Exists(path)) return File.ReadAllText(path).Trim();
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        File.WriteAllText(path, key);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return key;
    }
}
