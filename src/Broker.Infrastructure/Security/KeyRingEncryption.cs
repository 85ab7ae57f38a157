using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.Infrastructure.Security;

/// <summary>Encrypts each Data Protection key's XML with the key-encryption key (AES-256-GCM).</summary>
public sealed class KeyRingEncryptor(KeyEncryptionKeys keys) : IXmlEncryptor
{
    public EncryptedXmlInfo Encrypt(XElement plaintextElement)
    {
        var plaintext = Encoding.UTF8.GetBytes(plaintextElement.ToString(SaveOptions.DisableFormatting));
        var nonce = RandomNumberGenerator.GetBytes(AesGcm.NonceByteSizes.MaxSize);
        var ciphertext = new byte[plaintext.Length];
        var tag = new byte[AesGcm.TagByteSizes.MaxSize];
        using (var aes = new AesGcm(keys.Current, tag.Length))
            aes.Encrypt(nonce, plaintext, ciphertext, tag);

        var element = new XElement("encryptedKey",
            new XComment(" Encrypted with the Broker key-encryption key (AES-256-GCM). "),
            new XElement("kek", keys.CurrentId),
            new XElement("value", Convert.ToBase64String([.. nonce, .. ciphertext, .. tag])));
        return new EncryptedXmlInfo(element, typeof(KeyRingDecryptor));
    }
}

/// <summary>
/// The counterpart of <see cref="KeyRingEncryptor"/>. Data Protection creates it by type name from the stored
/// XML, passing the service provider, which is where it finds the keys.
/// </summary>
public sealed class KeyRingDecryptor(IServiceProvider services) : IXmlDecryptor
{
    public XElement Decrypt(XElement encryptedElement) =>
        Decrypt(encryptedElement, services.GetRequiredService<KeyEncryptionKeys>());

    /// <summary>Decrypts an <c>encryptedKey</c> element with the KEK it names (also used by <see cref="KeyRingRewrap"/>).</summary>
    public static XElement Decrypt(XElement encryptedElement, KeyEncryptionKeys keys)
    {
        var key = keys.ById(KekOf(encryptedElement) ?? throw new CryptographicException("Encrypted key without a KEK id."));
        var blob = Convert.FromBase64String((string?)encryptedElement.Element("value") ?? "");
        var nonceSize = AesGcm.NonceByteSizes.MaxSize;
        var tagSize = AesGcm.TagByteSizes.MaxSize;
        if (blob.Length < nonceSize + tagSize) throw new CryptographicException("Encrypted key is truncated.");

        var nonce = blob.AsSpan(0, nonceSize);
        var ciphertext = blob.AsSpan(nonceSize, blob.Length - nonceSize - tagSize);
        var tag = blob.AsSpan(blob.Length - tagSize);
        var plaintext = new byte[ciphertext.Length];
        using (var aes = new AesGcm(key, tagSize))
            aes.Decrypt(nonce, ciphertext, tag, plaintext);
        return XElement.Parse(Encoding.UTF8.GetString(plaintext));
    }

    /// <summary>The fingerprint of the KEK an <c>encryptedKey</c> element was encrypted with.</summary>
    public static string? KekOf(XElement encryptedElement) => (string?)encryptedElement.Element("kek");
}
