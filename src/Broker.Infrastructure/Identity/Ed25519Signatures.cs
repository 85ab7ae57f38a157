using Microsoft.IdentityModel.Tokens;
using NSec.Cryptography;

namespace Broker.Infrastructure.Identity;

/// <summary>
/// EdDSA (Ed25519, RFC 8037) signatures of workload identity tokens, which Microsoft.IdentityModel does not verify
/// itself: a JWKS key of <c>kty: OKP, crv: Ed25519</c> and a token of <c>alg: EdDSA</c> are verified here with
/// libsodium (NSec). Verification only: the broker never signs with an issuer's key.
/// </summary>
public sealed class Ed25519Signatures : ICryptoProvider
{
    public const string Algorithm = "EdDSA";

    /// <summary>The factory the token validation uses: IdentityModel's own, with Ed25519 added.</summary>
    public static readonly CryptoProviderFactory Factory = new() { CustomCryptoProvider = new Ed25519Signatures() };

    public bool IsSupportedAlgorithm(string algorithm, params object[] args) =>
        algorithm == Algorithm && args is [JsonWebKey key, ..] && PublicKeyOf(key) is not null;

    public object Create(string algorithm, params object[] args)
    {
        if (args is [JsonWebKey key, bool willCreateSignatures, ..] && !willCreateSignatures && PublicKeyOf(key) is { } publicKey)
            return new Verifier(key, publicKey);
        throw new NotSupportedException("Ed25519 keys of an issuer verify signatures only.");
    }

    public void Release(object cryptoInstance) => (cryptoInstance as IDisposable)?.Dispose();

    /// <summary>The key's 32-byte public key, or null when it is not a well-formed Ed25519 key.</summary>
    public static PublicKey? PublicKeyOf(JsonWebKey key)
    {
        if (key.Kty != "OKP" || key.Crv != "Ed25519" || string.IsNullOrEmpty(key.X)) return null;
        try
        {
            var raw = Base64UrlEncoder.DecodeBytes(key.X);
            return raw.Length == 32 && PublicKey.TryImport(SignatureAlgorithm.Ed25519, raw, KeyBlobFormat.RawPublicKey, out var publicKey)
                ? publicKey
                : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private sealed class Verifier(SecurityKey key, PublicKey publicKey) : SignatureProvider(key, Ed25519Signatures.Algorithm)
    {
        public override byte[] Sign(byte[] input) => throw new NotSupportedException();

        public override bool Verify(byte[] input, byte[] signature) =>
            signature.Length == SignatureAlgorithm.Ed25519.SignatureSize && SignatureAlgorithm.Ed25519.Verify(publicKey, input, signature);

        public override bool Verify(byte[] input, int inputOffset, int inputLength, byte[] signature, int signatureOffset, int signatureLength) =>
            signatureLength == SignatureAlgorithm.Ed25519.SignatureSize &&
            SignatureAlgorithm.Ed25519.Verify(publicKey, input.AsSpan(inputOffset, inputLength), signature.AsSpan(signatureOffset, signatureLength));

        protected override void Dispose(bool disposing)
        {
        }
    }
}
