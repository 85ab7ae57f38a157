using System.Text;
using System.Text.Json;
using Broker.Domain;

namespace Broker.Infrastructure.Upstream;

/// <summary>
/// The upstream's own words about a failure (<c>detail</c>, <c>error</c>/<c>error_description</c>, field errors),
/// made safe to store and show: one line, at most <see cref="MaxLength"/> characters. Only error bodies are
/// described; success bodies carry tokens and are never quoted.
/// </summary>
internal static class UpstreamText
{
    public const int MaxLength = 200;

    /// <summary>The upstream's own words about the failure when it gave some, else the fallback sentence.</summary>
    public static string DescribeOr(string body, string fallback) => Describe(body) ?? fallback;

    public static string? Describe(string body)
    {
        if (!UpstreamJson.TryParse(body, out var root) &&
            // SlideRule's docs show error bodies without their braces ("detail": "..."): read those too.
            !(body.TrimStart().StartsWith('"') && UpstreamJson.TryParse("{" + body + "}", out root)))
            return null;

        var text = root.ValueKind switch
        {
            JsonValueKind.Object => DescribeObject(root),
            JsonValueKind.String => root.GetString(),
            JsonValueKind.Array => Messages(root),
            _ => null,
        };
        return string.IsNullOrWhiteSpace(text) ? null : Clean(text);
    }

    private static string? DescribeObject(JsonElement answer)
    {
        // RFC 6749 §5.2 (OAuth2, Keycloak, django-oauth-toolkit).
        var error = UpstreamJson.ReadString(answer, "error");
        var description = UpstreamJson.ReadString(answer, "error_description");
        if (error is not null || description is not null)
            return error is null ? description : description is null ? error : $"{error}: {description}";

        // Django REST framework and simplejwt: {"detail": "...", "code": "token_not_valid"}.
        var detail = UpstreamJson.ReadString(answer, "detail") ?? UpstreamJson.ReadString(answer, "message");
        if (detail is not null)
            return UpstreamJson.ReadString(answer, "code") is { } code ? $"{detail} ({code})" : detail;

        // Django REST framework field errors: {"password": ["This field is required."]}. The field names are
        // what tells an admin which credential is missing.
        var fields = new List<string>();
        foreach (var property in answer.EnumerateObject())
        {
            var messages = property.Value.ValueKind switch
            {
                JsonValueKind.Array => Messages(property.Value),
                JsonValueKind.String => property.Value.GetString(),
                _ => null,
            };
            if (!string.IsNullOrWhiteSpace(messages)) fields.Add($"{property.Name}: {messages}");
        }
        return fields.Count > 0 ? string.Join("; ", fields) : null;
    }

    private static string Messages(JsonElement array) =>
        string.Join(" ", array.EnumerateArray().Where(m => m.ValueKind == JsonValueKind.String).Select(m => m.GetString()));

    // One line (no log forging) with runs of white space as one space, cut by SafeText to fit a log line and a column.
    internal static string Clean(string text)
    {
        // Collapsing only needs the part that can be kept (and a little more, for SafeText to see the cut).
        var line = new StringBuilder(Math.Min(text.Length, 2 * MaxLength));
        foreach (var c in text)
        {
            if (line.Length >= 2 * MaxLength) break;
            var ch = char.IsControl(c) || char.IsWhiteSpace(c) ? ' ' : c;
            if (ch == ' ' && (line.Length == 0 || line[^1] == ' ')) continue;
            line.Append(ch);
        }
        return SafeText.Shorten(line.ToString().TrimEnd(), MaxLength);
    }
}
