using Microsoft.AspNetCore.DataProtection;

namespace Broker.Infrastructure.Security;

public enum SecretKind
{
    Password,
    ClientSecret,
    AccessToken,
    RefreshToken,
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
}
