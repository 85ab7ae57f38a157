using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Broker.Api.Errors;

/// <summary>
/// The exceptions that are the caller's doing, as the problems they deserve: a body that is not the JSON the
/// endpoint reads (400 naming the field), and a write that lost a race against another one (409). Nothing of
/// the body is echoed back, only field names (every unknown one at once: <see cref="UnknownFields"/>): a secret sent in the wrong place must not come back in the error.
/// </summary>
public static class RequestErrors
{
    public static IResult? ToProblem(Exception exception) => exception switch
    {
        BadHttpRequestException { InnerException: JsonException json } => Problems.Validation(FieldOf(json.Path), MessageFor(json)),
        BadHttpRequestException { StatusCode: StatusCodes.Status415UnsupportedMediaType } =>
            Problems.Create(StatusCodes.Status415UnsupportedMediaType, Problems.UnsupportedMediaType, UnsupportedMediaTypeTitle, UnsupportedMediaTypeDetail),
        BadHttpRequestException { StatusCode: StatusCodes.Status400BadRequest } bad when IsMissingBody(bad) =>
            Problems.Validation("body", "is required: send a JSON object."),
        DbUpdateException { InnerException: PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } pg } =>
            Problems.Create(StatusCodes.Status409Conflict, Problems.Conflict, "The name is taken.",
                $"Another request created the same name at the same moment ({pg.ConstraintName})."),
        DbUpdateException { InnerException: PostgresException { SqlState: PostgresErrorCodes.ForeignKeyViolation } pg } =>
            Problems.Create(StatusCodes.Status409Conflict, Problems.Conflict, "Something this change refers to was changed at the same moment.",
                $"Try again ({pg.ConstraintName})."),
        _ => null,
    };

    /// <summary>
    /// The framework answers a body without a JSON content type with a bare 415 (it does not throw for it): the
    /// problem it writes gets the broker's type and says what to send.
    /// </summary>
    public static void Customize(ProblemDetailsContext problem)
    {
        if (problem.ProblemDetails.Status != StatusCodes.Status415UnsupportedMediaType) return;
        problem.ProblemDetails.Type = Problems.TypeBase + Problems.UnsupportedMediaType;
        problem.ProblemDetails.Title = UnsupportedMediaTypeTitle;
        problem.ProblemDetails.Detail = UnsupportedMediaTypeDetail;
    }

    private const string UnsupportedMediaTypeTitle = "The body is not JSON.";
    private const string UnsupportedMediaTypeDetail = "Send Content-Type: application/json with a JSON body.";

    // The framework's words for an empty body: "Implicit body inferred for parameter ... but no body was provided"
    // and "Required parameter ... was not provided from body".
    private static bool IsMissingBody(BadHttpRequestException bad) =>
        bad.Message.Contains("no body was provided", StringComparison.Ordinal) ||
        bad.Message.Contains("was not provided from body", StringComparison.Ordinal);

    // System.Text.Json says so in these words when UnmappedMemberHandling.Disallow meets an unknown property.
    public static bool IsUnknownField(JsonException json) =>
        json.Message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal);

    private static string MessageFor(JsonException json)
    {
        if (IsUnknownField(json)) return UnknownFields.Message(null);
        if (json.InnerException is JsonException) // the reader's own error: the text is not JSON at all
            return $"is not valid JSON (line {json.LineNumber + 1}, byte {json.BytePositionInLine + 1}).";
        return json.Path is null or "$" ? "must be a JSON object." : "has a value of the wrong type.";
    }

    /// <summary>The field a JSON path points at, as the API spells it: $.token_url → token_url, $ → body.</summary>
    private static string FieldOf(string? path)
    {
        if (path is null || path == "$" || !path.StartsWith('$')) return "body";
        if (path.StartsWith("$['", StringComparison.Ordinal) && path.IndexOf("']", StringComparison.Ordinal) is var end and > 3)
            return path[3..end] + path[(end + 2)..];
        return path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : "body";
    }
}
