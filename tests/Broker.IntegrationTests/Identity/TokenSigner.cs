using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Broker.IntegrationTests.Identity;

/// <summary>
/// Signs workload identity tokens as an issuer would (a Kubernetes cluster's service-account issuer, say): RSA keys
/// with a kid, a JWKS of their public halves, and tokens with the claims a test asks for.
/// </summary>
public sealed class TokenSigner
{
    private readonly List<RsaSecurityKey> _keys = [];

    public TokenSigner(string issuer, params string[] kids)
    {
        Issuer = issuer;
        foreach (var kid in kids) AddKey(kid);
    }

    public string Issuer { get; }

    /// <summary>The key tokens are signed with: the newest.</summary>
    public RsaSecurityKey Current => _keys[^1];

    public RsaSecurityKey AddKey(string kid)
    {
        var key = new RsaSecurityKey(RSA.Create(2048)) { KeyId = kid };
        _keys.Add(key);
        return key;
    }

    public void RemoveKey(string kid) => _keys.RemoveAll(k => k.KeyId == kid);

    /// <summary>The public keys as a JWKS document.</summary>
    public string Jwks() => JsonSerializer.Serialize(new
    {
        keys = _keys.Select(k =>
        {
            var p = k.Rsa.ExportParameters(false);
            return new { kty = "RSA", use = "sig", alg = "RS256", kid = k.KeyId, n = Base64UrlEncoder.Encode(p.Modulus), e = Base64UrlEncoder.Encode(p.Exponent) };
        }),
    });

    /// <summary>
    /// A signed token: iss, sub, aud and times from <paramref name="now"/> (iat and nbf now, exp after
    /// <paramref name="lifetime"/>, 10 minutes by default), plus <paramref name="claims"/>; <paramref name="issuer"/>,
    /// <paramref name="audience"/> (null leaves it out) and <paramref name="key"/> override.
    /// </summary>
    public string Mint(DateTimeOffset now, string subject, string? audience = "broker", TimeSpan? lifetime = null,
        IDictionary<string, object>? claims = null, string? issuer = null, SecurityKey? key = null, DateTimeOffset? notBefore = null,
        string? tokenType = null)
    {
        var all = new Dictionary<string, object>(claims ?? new Dictionary<string, object>()) { ["sub"] = subject };
        if (audience is not null) all["aud"] = audience;
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Issuer,
            Claims = all,
            IssuedAt = now.UtcDateTime,
            NotBefore = (notBefore ?? now).UtcDateTime,
            Expires = (now + (lifetime ?? TimeSpan.FromMinutes(10))).UtcDateTime,
            SigningCredentials = new SigningCredentials(key ?? Current, SecurityAlgorithms.RsaSha256),
            TokenType = tokenType, // null: JWT
        });
    }

    /// <summary>A token in the shape of a Kubernetes projected service-account token.</summary>
    public string Kubernetes(DateTimeOffset now, string ns, string serviceAccount, string audience = "broker", SecurityKey? key = null) =>
        Mint(now, $"system:serviceaccount:{ns}:{serviceAccount}", audience, claims: new Dictionary<string, object>
        {
            ["kubernetes.io"] = new Dictionary<string, object>
            {
                ["namespace"] = ns,
                ["serviceaccount"] = new Dictionary<string, object> { ["name"] = serviceAccount, ["uid"] = Guid.NewGuid().ToString() },
            },
        }, key: key);

    /// <summary>A token with a header and payload of the test's own making, signed (or not) as it says: for the attacks.</summary>
    public static string Raw(object header, object payload, Func<byte[], byte[]>? sign)
    {
        var signingInput = $"{Base64UrlEncoder.Encode(JsonSerializer.Serialize(header))}.{Base64UrlEncoder.Encode(JsonSerializer.Serialize(payload))}";
        return signingInput + "." + (sign is null ? "" : Base64UrlEncoder.Encode(sign(Encoding.ASCII.GetBytes(signingInput))));
    }
}
