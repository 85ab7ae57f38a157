using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace Broker.Api.Errors;

/// <summary>
/// The few unexpected exceptions become problems. A database that is down is not a bug: it is a 503 with
/// Retry-After, so callers back off instead of seeing a 500.
/// </summary>
public sealed partial class ExceptionHandler(
    IProblemDetailsService problems, IOptions<JsonOptions> json, ILogger<ExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken ct)
    {
        if (exception is BadHttpRequestException { InnerException: JsonException unknown } && RequestErrors.IsUnknownField(unknown) &&
            await UnknownFields.FindAsync(http, json.Value.SerializerOptions) is { Count: > 0 } fields)
        {
            await Problems.Validation(fields).ExecuteAsync(http);
            return true;
        }
        if (RequestErrors.ToProblem(exception) is { } callersFault)
        {
            await callersFault.ExecuteAsync(http);
            return true;
        }
        var (status, type, title) = exception switch
        {
            BadHttpRequestException bad => (bad.StatusCode, Problems.BadRequest, "The request could not be read."),
            _ when IsDatabaseFault(exception) => (StatusCodes.Status503ServiceUnavailable, Problems.DatabaseUnavailable, "The database is unavailable."),
            OperationCanceledException when http.RequestAborted.IsCancellationRequested => (499, Problems.BadRequest, "The client went away."),
            _ => (StatusCodes.Status500InternalServerError, Problems.Internal, "Something went wrong."),
        };
        // The request is named here: requests carry no logging scope (docs/operations.md, "Logs").
        if (status >= 500 && status != StatusCodes.Status503ServiceUnavailable)
            LogUnexpected(exception, http.Request.Method, Broker.Domain.SafeText.Shorten(http.Request.Path.Value, 200), http.TraceIdentifier);
        else if (status == StatusCodes.Status503ServiceUnavailable) LogDatabaseFault(exception.GetType().Name);

        http.Response.StatusCode = status;
        if (status == StatusCodes.Status503ServiceUnavailable) http.Response.Headers.RetryAfter = "5";
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            Exception = exception,
            ProblemDetails = { Status = status, Type = Problems.TypeBase + type, Title = title },
        });
    }

    private static bool IsDatabaseFault(Exception e) => Broker.Infrastructure.Persistence.DatabaseFaults.IsTransient(e);

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled exception answering {Method} {Path} (request {RequestId})")]
    private partial void LogUnexpected(Exception exception, string method, string? path, string requestId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Database fault ({ExceptionType}): answered 503")]
    private partial void LogDatabaseFault(string exceptionType);
}
