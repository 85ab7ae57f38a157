using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Broker.Api.Errors;

/// <summary>
/// Every unknown field of a body at once, each with a "did you mean" when a field of the request is close.
/// System.Text.Json stops at the first unknown field; a caller fixing <c>tokenUrl</c> should not then learn about
/// <c>clientSecret</c> one request later. So when it stops, the body (kept for re-reading) is walked against the
/// request type's fields. Only names come back, never values.
/// </summary>
public static class UnknownFields
{
    private const int MaxReported = 20;

    /// <summary>Keeps JSON bodies re-readable (they are small: Kestrel caps them), for <see cref="FindAsync"/>.</summary>
    public static IApplicationBuilder UseRereadableJsonBodies(this IApplicationBuilder app) =>
        app.Use((http, next) =>
        {
            if (http.Request.HasJsonContentType()) http.Request.EnableBuffering();
            return next(http);
        });

    public static string Message(string? suggestion) =>
        suggestion is null ? "is not a known field." : $"is not a known field; did you mean `{suggestion}`?";

    /// <summary>The unknown fields of the request's body (empty when it cannot tell), by path: <c>bogus</c>, <c>items[0].x</c>.</summary>
    public static async Task<Dictionary<string, string[]>> FindAsync(HttpContext http, JsonSerializerOptions options)
    {
        var found = new Dictionary<string, string[]>(StringComparer.Ordinal);
        // The exception handler has cleared the endpoint by now; its feature still knows which one failed.
        var endpoint = http.Features.Get<Microsoft.AspNetCore.Diagnostics.IExceptionHandlerFeature>()?.Endpoint ?? http.GetEndpoint();
        var type = endpoint?.Metadata.GetMetadata<Microsoft.AspNetCore.Http.Metadata.IAcceptsMetadata>()?.RequestType;
        if (type is null || !http.Request.Body.CanSeek) return found;
        try
        {
            http.Request.Body.Position = 0;
            using var body = await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted);
            Walk(body.RootElement, options.GetTypeInfo(type), "", options, found);
        }
        catch (Exception e) when (e is JsonException or BadHttpRequestException or IOException)
        {
            // Not JSON after all, or the rest of the body is over the size limit or never came: the serializer's
            // own error stands.
            found.Clear();
        }
        return found;
    }

    private static void Walk(JsonElement element, JsonTypeInfo info, string prefix, JsonSerializerOptions options, Dictionary<string, string[]> found)
    {
        if (found.Count >= MaxReported) return;
        if (info.Kind == JsonTypeInfoKind.Enumerable && element.ValueKind == JsonValueKind.Array && info.ElementType is { } itemType)
        {
            var i = 0;
            foreach (var item in element.EnumerateArray())
                Walk(item, options.GetTypeInfo(itemType), $"{prefix.TrimEnd('.')}[{i++}].", options, found);
            return;
        }
        if (info.Kind != JsonTypeInfoKind.Object || element.ValueKind != JsonValueKind.Object) return;
        if ((info.UnmappedMemberHandling ?? options.UnmappedMemberHandling) != JsonUnmappedMemberHandling.Disallow) return;
        if (info.Properties.Any(p => p.IsExtensionData)) return;

        var comparison = options.PropertyNameCaseInsensitive ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        foreach (var property in element.EnumerateObject())
        {
            var known = info.Properties.FirstOrDefault(p => string.Equals(p.Name, property.Name, comparison));
            if (known is not null)
                Walk(property.Value, options.GetTypeInfo(known.PropertyType), $"{prefix}{property.Name}.", options, found);
            else if (found.Count < MaxReported)
                found[prefix + property.Name] = [Message(Closest(property.Name, info.Properties.Select(p => p.Name)))];
        }
    }

    /// <summary>The known field a typo most likely meant: the same letters in another case or spelling, or a few edits away.</summary>
    public static string? Closest(string unknown, IEnumerable<string> known)
    {
        var typed = Normal(unknown);
        string? best = null;
        var bestDistance = typed.Length >= 6 ? 3 : 2; // anything closer than this counts
        foreach (var name in known)
        {
            var distance = Distance(typed, Normal(name));
            if (distance < bestDistance) (best, bestDistance) = (name, distance);
        }
        return best;
    }

    private static string Normal(string name) =>
        new(name.Where(c => c is not ('_' or '-')).Select(char.ToLowerInvariant).ToArray());

    private static int Distance(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 3 || a.Length > 100 || b.Length > 100) return int.MaxValue;
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        var current = new int[b.Length + 1];
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
