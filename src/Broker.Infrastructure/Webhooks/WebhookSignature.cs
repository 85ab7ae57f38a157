using System.Security.Cryptography;
using System.Text;

namespace Broker.Infrastructure.Webhooks;

/// <summary>
/// The <c>Broker-Signature</c> header, as Stripe signs: <c>t=&lt;unix seconds&gt;,v1=&lt;hex HMAC-SHA256(secret, "t.body")&gt;</c>.
/// The time inside the signed text lets a receiver refuse replays of an old delivery (docs/webhooks.md).
/// </summary>
public static class WebhookSignature
{
    public const string Header = "Broker-Signature";

    public static string Sign(string secret, long unixSeconds, string body) =>
        $"t={unixSeconds},v1={Hex(secret, unixSeconds, body)}";

    public static string Hex(string secret, long unixSeconds, string body) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{unixSeconds}.{body}")));

    /// <summary>A new signing secret: 32 random bytes, base64url, with a prefix that says what it is.</summary>
    public static string NewSecret() => "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
