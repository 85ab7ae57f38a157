using System.Text.Json.Serialization;

namespace Broker.Simulator;

// Error bodies shared by several dialects, spelled as the upstreams' docs spell them (snake_case comes from the JSON options).

/// <summary>Django REST framework: <c>{"detail": "..."}</c>.</summary>
internal sealed record DetailError(string Detail);

/// <summary>simplejwt: <c>{"detail": "...", "code": "token_not_valid"}</c>.</summary>
internal sealed record CodedDetailError(string Detail, string Code);

/// <summary>OAuth2 and Keycloak (RFC 6749 §5.2): <c>{"error": "...", "error_description": "..."}</c>.</summary>
internal sealed record OAuthError(
    string Error,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ErrorDescription = null);

internal static class Django
{
    public const string NoActiveAccount = "No active account found with the given credentials";

    public static IResult Json(object body, int status) => Results.Json(body, statusCode: status);

    /// <summary>
    /// DRF's 400 for a body that is not JSON or lacks a required field, or null when the body is fine.
    /// </summary>
    public static IResult? BadBody(Dictionary<string, string?>? body, params string[] required) =>
        body is null ? Json(new DetailError("JSON parse error"), StatusCodes.Status400BadRequest)
        : JsonBody.FieldErrors(body, required) is { } errors ? Json(errors, StatusCodes.Status400BadRequest)
        : null;
}
