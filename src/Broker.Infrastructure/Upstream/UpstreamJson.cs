using System.Globalization;
using System.Text;
using System.Text.Json;
using Broker.Domain;

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
            // Raw lone surrogates (a body that did not come through the UTF-8 decoder) would make the parser throw too.
            using var document = JsonDocument.Parse(WithoutLoneSurrogateEscapes(SafeText.Clean(body, oneLine: false)));
            root = document.RootElement.Clone();
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>
    /// JSON lets a string escape half a surrogate pair ("\ud800"); System.Text.Json parses it but throws when the
    /// string is read. Such escapes become "\ufffd" before parsing, so every read of the answer is safe.
    /// </summary>
    internal static string WithoutLoneSurrogateEscapes(string json)
    {
        if (!json.Contains("\\u", StringComparison.OrdinalIgnoreCase)) return json;
        StringBuilder? fixedJson = null;
        var copied = 0;
        for (var i = 0; i < json.Length - 1; i++)
        {
            if (json[i] != '\\') continue;
            if (json[i + 1] != 'u' || SurrogateEscape(json, i) is not { } unit)
            {
                i++; // an escaped character (an escaped backslash included): never the start of another escape
                continue;
            }
            if (char.IsHighSurrogate(unit) && SurrogateEscape(json, i + 6) is { } next && char.IsLowSurrogate(next))
            {
                i += 11; // a valid pair
                continue;
            }
            fixedJson ??= new StringBuilder(json.Length);
            fixedJson.Append(json, copied, i - copied).Append("\\ufffd");
            copied = i + 6;
            i += 5;
        }
        return fixedJson is null ? json : fixedJson.Append(json, copied, json.Length - copied).ToString();
    }

    /// <summary>The surrogate a \uXXXX escape at <paramref name="at"/> stands for, or null if it is not one.</summary>
    private static char? SurrogateEscape(string json, int at)
    {
        if (at + 6 > json.Length || json[at] != '\\' || json[at + 1] != 'u' ||
            !ushort.TryParse(json.AsSpan(at + 2, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
            return null;
        return char.IsSurrogate((char)code) ? (char)code : null;
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
