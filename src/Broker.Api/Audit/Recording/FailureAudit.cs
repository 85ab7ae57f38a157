using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.Api.Auth;
using Microsoft.AspNetCore.WebUtilities;

namespace Broker.Api.Audit.Recording;

/// <summary>
/// Records every failure a caller of the API is shown that no endpoint recorded itself: requests without a
/// key (401), keys without the right (403), rate-limit rejections (429), invalid input, unknown names and
/// server faults. It sits outside the exception handler, authentication and the rate limiter, so it sees the
/// status the caller finally got. Endpoints without authorization (health, Swagger) and unknown paths are not
/// the broker's API and are not recorded: a scanner must not fill the trail. Failed authentications (401) and
/// rate-limit refusals (429) are counted per address and minute by <see cref="RejectionAudit"/>, not written one
/// row each.
/// </summary>
public sealed class FailureAudit(RequestDelegate next, AuditQueue audit, RejectionAudit rejections, TimeProvider time)
{
    public async Task InvokeAsync(HttpContext http)
    {
        // Read before the call: the exception handler clears the endpoint and route values when it takes over.
        var endpoint = http.GetEndpoint();
        if (endpoint?.Metadata.GetMetadata<ClientRoles>() is null)
        {
            await next(http);
            return;
        }
        var account = http.GetRouteValue("account") as string;
        var route = ((endpoint as RouteEndpoint)?.RoutePattern.RawText ?? http.Request.Path.Value)?.TrimEnd('/');

        var status = StatusCodes.Status500InternalServerError;
        try
        {
            await next(http);
            status = http.Response.StatusCode;
        }
        finally
        {
            if (status == StatusCodes.Status401Unauthorized) rejections.Count(http, AuditActions.AuthFailed, "no API key");
            else if (status == StatusCodes.Status429TooManyRequests) rejections.Count(http, AuditActions.RequestRateLimited, "per-client limit");
            else if (status >= 400 && !RequestAudit.IsRecorded(http))
                RequestAudit.Record(audit, time, http, ActionOf(status), OutcomeOf(status),
                    account: account, detail: $"{http.Request.Method} {route}");
        }
    }

    private static string ActionOf(int status) => status == StatusCodes.Status403Forbidden ? AuditActions.AuthForbidden : AuditActions.RequestFailed;

    /// <summary>The status in words, snake_case: "unauthorized", "too_many_requests", "service_unavailable".</summary>
    private static string OutcomeOf(int status) =>
        ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } phrase
            ? phrase.ToLowerInvariant().Replace(' ', '_').Replace("-", "", StringComparison.Ordinal)
            : $"http_{status}";
}
