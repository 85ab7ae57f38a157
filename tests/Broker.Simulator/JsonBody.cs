using System.Text.Json;

namespace Broker.Simulator;

/// <summary>Reads the JSON object bodies of the Django and Keycloak-style endpoints as field → text.</summary>
internal static class JsonBody
{
    /// <summary>The top-level fields, or null when the body is not a JSON object (the endpoint answers 400).</summary>
    public static async Task<Dictionary<string, string?>?> ReadAsync(HttpRequest request)
    {
        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
            if (document.RootElement.ValueKind != JsonValueKind.Object) return null;
            var fields = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                fields[property.Name] = property.Value.ValueKind switch
                {
                    JsonValueKind.String => property.Value.GetString(),
                    JsonValueKind.Null => null,
                    _ => property.Value.GetRawText(),
                };
            }
            return fields;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Django REST framework's field errors: <c>{"password": ["This field is required."]}</c> per bad field,
    /// or null when every field is present and not blank.
    /// </summary>
    public static Dictionary<string, string[]>? FieldErrors(Dictionary<string, string?> body, params string[] required)
    {
        Dictionary<string, string[]>? errors = null;
        foreach (var name in required)
        {
            var error = !body.TryGetValue(name, out var value) ? "This field is required."
                : value is null ? "This field may not be null."
                : value.Length == 0 ? "This field may not be blank."
                : null;
            if (error is not null) (errors ??= new(StringComparer.Ordinal))[name] = [error];
        }
        return errors;
    }

    public static string? Field(this Dictionary<string, string?>? body, string name) =>
        body is not null && body.TryGetValue(name, out var value) ? value : null;
}
