using System.Buffers.Text;
using System.Text.Json;

namespace Broker.Domain;

/// <summary>
/// Reads the <c>exp</c> claim of a JWT without checking its signature: the broker is not the token's audience,
/// it only needs to know when the token stops working.
/// </summary>
public static class Jwt
{
    public static DateTimeOffset? TryReadExpiry(string? token)
    {
        if (string.IsNullOrEmpty(token)) return null;
        var parts = token.Split('.');
        if (parts.Length != 3) return null;
        try
        {
            var payload = Base64Url.DecodeFromChars(parts[1]);
            using var json = JsonDocument.Parse(payload);
            if (json.RootElement.ValueKind != JsonValueKind.Object ||
                !json.RootElement.TryGetProperty("exp", out var exp)) return null;
            return exp.ValueKind switch
            {
                JsonValueKind.Number when exp.TryGetInt64(out var seconds) => DateTimeOffset.FromUnixTimeSeconds(seconds),
                JsonValueKind.Number => DateTimeOffset.FromUnixTimeSeconds((long)exp.GetDouble()),
                _ => null,
            };
        }
        catch (Exception e) when (e is FormatException or JsonException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }
}
