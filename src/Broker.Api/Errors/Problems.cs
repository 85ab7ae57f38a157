using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Broker.Api.Errors;

/// <summary>
/// RFC 9457 problems with stable <c>type</c> URIs: callers branch on the type, never on the title or detail.
/// </summary>
public static class Problems
{
    public const string TypeBase = "https://broker.dev/errors/";

    public const string BadRequest = "bad-request";
    public const string UnsupportedMediaType = "unsupported-media-type";
    public const string Unauthorized = "unauthorized";
    public const string Forbidden = "forbidden";
    public const string NotGranted = "not-granted";
    public const string NotFound = "not-found";
    public const string Conflict = "conflict";
    public const string CredentialsRejected = "upstream-credentials-rejected";
    public const string AccountInactive = "account-inactive";
    public const string AccountNotConnected = "account-not-connected";
    public const string CredentialsMissing = "account-credentials-missing";
    public const string ReconnectRequired = "account-reconnect-required";
    public const string UpstreamUnavailable = "upstream-unavailable";
    public const string UpstreamTimeout = "upstream-timeout";
    public const string UpstreamProtocolError = "upstream-protocol-error";
    public const string UpstreamEndpointNotFound = "upstream-endpoint-not-found";
    public const string UpstreamDestinationRefused = "upstream-destination-refused";
    public const string DatabaseUnavailable = "database-unavailable";
    public const string RateLimited = "rate-limited";
    public const string IdentityInvalid = "identity-invalid";
    public const string IdentityNotBound = "identity-not-bound";
    public const string IdentityAmbiguous = "identity-ambiguous";
    public const string IdentityKeysUnavailable = "identity-keys-unavailable";
    public const string Internal = "internal-error";

    /// <remarks>The detail may name something from outside (a field, a constraint): it is shown as safe text.</remarks>
    public static ProblemHttpResult Create(int status, string type, string title, string? detail = null) =>
        TypedResults.Problem(detail: SafeText.Shorten(detail, Limits.Detail), statusCode: status, title: title, type: TypeBase + type);

    /// <remarks>
    /// Field names may come from the body (an unknown property): they are shown as safe text. Messages are ours, with
    /// any caller text in them already cut; their cap is room for a list of every valid value (all audit actions).
    /// </remarks>
    public static ValidationProblem Validation(IDictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(
            errors.GroupBy(e => SafeText.Shorten(e.Key, Limits.Name), StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.SelectMany(e => e.Value).Select(m => SafeText.Shorten(m, MessageLimit)).ToArray(), StringComparer.Ordinal),
            title: "The request is not valid.", type: TypeBase + BadRequest);

    private const int MessageLimit = 4 * Limits.Detail;

    public static ValidationProblem Validation(string field, string message) =>
        Validation(new Dictionary<string, string[]> { [field] = [message] });

    public static ProblemHttpResult NotFoundProblem(string what) => Create(StatusCodes.Status404NotFound, NotFound, $"No such {what}.");
}
