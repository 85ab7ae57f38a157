using Broker.Api.Admin;
using Broker.Domain;

namespace Broker.Api.Audit;

/// <summary>
/// Refuses query parameters an endpoint does not know: a misspelt filter (<c>acount=</c>) would otherwise be
/// ignored and the answer would silently cover everything.
/// </summary>
public static class QueryParameters
{
    public static void Known(HttpRequest request, IReadOnlyCollection<string> known, FieldErrors errors)
    {
        foreach (var name in request.Query.Keys)
            if (!known.Contains(name, StringComparer.Ordinal))
                errors.Add(SafeText.Shorten(name, 40) ?? "", $"is not a parameter of this endpoint; it takes {string.Join(", ", known)}.");
    }

    /// <summary>An action filter must name an action the answer can contain.</summary>
    public static void Action(string? action, IReadOnlyCollection<string> valid, FieldErrors errors)
    {
        if (action is not null && !valid.Contains(action, StringComparer.Ordinal))
            errors.Add("action", $"must be one of {string.Join(", ", valid)}.");
    }
}
