namespace Broker.Infrastructure.Security;

/// <summary>
/// Where the key-encryption key (KEK) comes from. The KEK encrypts the Data Protection key ring stored in
/// PostgreSQL, so it must live outside the database: an environment variable, a mounted secret file.
/// </summary>
public sealed class KeyEncryptionOptions
{
    public const string Section = "Broker:KeyEncryption";

    /// <summary>The KEK itself, 32 random bytes in base64 (env <c>Broker__KeyEncryption__Key</c>).</summary>
    public string? Key { get; set; }

    /// <summary>A file holding the base64 KEK, e.g. a Docker or Kubernetes secret (env <c>Broker__KeyEncryption__KeyFile</c>).</summary>
    public string? KeyFile { get; set; }

    /// <summary>Former KEKs, still accepted for decrypting keys written before a rotation.</summary>
    public List<string> PreviousKeys { get; set; } = [];

    /// <summary>
    /// In Development only: where to generate a KEK when none is given (relative to the content root).
    /// </summary>
    public string DevelopmentKeyFile { get; set; } = ".local/key-encryption.key";
}
