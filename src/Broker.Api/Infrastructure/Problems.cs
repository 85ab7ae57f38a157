using Microsoft.AspNetCore.Http.HttpResults;

namespace Broker.Api.Infrastructure;

/// <summary>
/// RFC 9457 problems with stable <c>type</c> URIs: callers branch on the type, never on the title or detail.
/// </summary>
public static class Problems
{
    public const string TypeBase = "https://broker.dev/errors/";

    public const string BadRequest = "bad-request";
    public const string Unauthorized = "unauthorized";
    public const string Forbidden = "forbidden";
    public const string NotGranted = "not-granted";
    public const string NotFound = "not-found";
    public const string Conflict = "conflict";
    public const string CredentialsRejected = "upstream-credentials-rejected";
    public const string AccountInactive = "account-inactive";
    public const string UpstreamUnavailable = "upstream-unavailable";
    public const string UpstreamTimeout = "upstream-timeout";
    public const string UpstreamProtocolError = "upstream-protocol-error";
    public const string UpstreamDestinationRefused = "upstream-destination-refused";
    public const string DatabaseUnavailable = "database-unavailable";
    public const string RateLimited = "rate-limited";
    public const string Internal = "internal-error";

    public static ProblemHttpResult Create(int status, string type, string title, string? detail = null) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: title, type: TypeBase + type);

    public static ValidationProblem Validation(IDictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors, title: "The request is not valid.", type: TypeBase + BadRequest);

    public static ValidationProblem Validation(string field, string message) =>
        Validation(new Dictionary<string, string[]> { [field] = [message] });

    public static ProblemHttpResult NotFoundProblem(string what) => Create(StatusCodes.Status404NotFound, NotFound, $"No such {what}.");
}
