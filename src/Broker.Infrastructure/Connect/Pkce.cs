using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Broker.Infrastructure.Connect;

/// <summary>The random values of a connect attempt (RFC 7636 and RFC 6749 §10.12).</summary>
public static class Pkce
{
    /// <summary>256 random bits, base64url: 43 characters, within RFC 7636's 43 to 128 unreserved characters.</summary>
    public static string NewSecret() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    /// <summary>RFC 7636 §4.2, S256: BASE64URL(SHA256(ASCII(code_verifier))).</summary>
    public static string Challenge(string verifier) => Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));

    /// <summary>The state as stored: its SHA-256, so the table does not hold anything that completes a callback.</summary>
    public static byte[] HashState(string state) => SHA256.HashData(Encoding.UTF8.GetBytes(state));
}
