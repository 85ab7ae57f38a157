using System.Globalization;
using System.Text.Json;

namespace Broker.Infrastructure.Upstream;

/// <summary>Lenient readers for the handful of fields the dialects need from upstream JSON.</summary>
internal static class UpstreamJson
{
    public static bool TryParseObject(string body, out JsonElement answer)
    {
        answer = default;
        if (!TryParse(body, out var root) || root.ValueKind != JsonValueKind.Object) return false;
        answer = root;
        return true;
    }

    public static bool TryParse(string body, out JsonElement root)
    {
        root = default;
        if (string.IsNullOrWhiteSpace(body)) return false;
        try
        {
            using var document = JsonDocument.Parse(body);
            root = document.RootElement.Clone();
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>A non-blank string property, else null.</summary>
    public static string? ReadString(JsonElement answer, string name) =>
        answer.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String &&
        value.GetString() is { } text && !string.IsNullOrWhiteSpace(text)
            ? text
            : null;

    /// <summary>
    /// A number of seconds given as a JSON number or as a numeric string: seed 004 documents <c>expires_in</c> as a
    /// String, SlideRule sends <c>"86400.0"</c>.
    /// </summary>
    public static double? ReadSeconds(JsonElement answer, string name)
    {
        if (!answer.TryGetProperty(name, out var value)) return null;
        double seconds;
        switch (value.ValueKind)
        {
            case JsonValueKind.Number:
                seconds = value.GetDouble();
                break;
            case JsonValueKind.String when double.TryParse(value.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed):
                seconds = parsed;
                break;
            default:
                return null;
        }
        return double.IsFinite(seconds) ? seconds : null;
    }

    private static readonly string[] SlideRuleTimeFormats =
        ["yyyy-MM-dd'T'HH:mm:ss'UTC'", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'UTC'", "yyyy-MM-dd HH:mm:ss'UTC'"];

    /// <summary>
    /// An absolute time: SlideRule's <c>"2022-11-29T13:03:08UTC"</c> (UTC, not ISO 8601), an ISO 8601 time, or a
    /// number of Unix seconds.
    /// </summary>
    public static DateTimeOffset? ReadTimestamp(JsonElement answer, string name)
    {
        if (!answer.TryGetProperty(name, out var value)) return null;
        if (value.ValueKind == JsonValueKind.Number)
        {
            return value.TryGetInt64(out var unix) && unix is > 0 and < 253_402_300_799
                ? DateTimeOffset.FromUnixTimeSeconds(unix)
                : null;
        }
        if (value.ValueKind != JsonValueKind.String || value.GetString() is not { } text) return null;

        const DateTimeStyles utc = DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal;
        if (DateTimeOffset.TryParseExact(text.Trim(), SlideRuleTimeFormats, CultureInfo.InvariantCulture, utc, out var exact))
            return exact;
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, utc, out var iso) ? iso : null;
    }
}
