using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Broker.Simulator;

/// <summary>
/// Makes the tokens the upstreams hand out: HS256 JWTs (signed by hand, so the simulator needs no NuGet package)
/// and the opaque strings of django-oauth-toolkit.
/// </summary>
internal sealed class TokenFactory
{
    // Header bytes as the upstreams' documented samples show them: SlideRule and Keycloak put "alg" first, simplejwt puts "typ" first.
    public const string AlgFirstHeader = """{"alg":"HS256","typ":"JWT"}""";
    public const string TypFirstHeader = """{"typ":"JWT","alg":"HS256"}""";

    private const string Alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    // One key per simulator: nobody else needs to verify these signatures, the simulator remembers what it issued.
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);

    public string Jwt(string header, JsonObject claims)
    {
        var signingInput = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(header)) + "." +
                           Base64Url.EncodeToString(Encoding.UTF8.GetBytes(claims.ToJsonString()));
        var signature = HMACSHA256.HashData(_key, Encoding.ASCII.GetBytes(signingInput));
        return signingInput + "." + Base64Url.EncodeToString(signature);
    }

    /// <summary>A 30-character alphanumeric token like <c>Df0Z0r74hxZmO47mo9QnRrncVJIGU6</c> (seed 004).</summary>
    public static string Opaque() => RandomNumberGenerator.GetString(Alphanumerics, 30);

    /// <summary>The <c>jti</c> claim: 32 lowercase hex digits, as simplejwt writes it.</summary>
    public static string Jti() => Guid.NewGuid().ToString("N");
}
