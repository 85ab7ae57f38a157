using Broker.Api.Auth;
using Broker.Infrastructure.Audit;

namespace Broker.Api.Audit.Recording;

/// <summary>
/// Queues the audit event of a request (who, from where, which request) for the batch writer, and marks the
/// request as recorded so <see cref="FailureAudit"/> does not record its failure a second time.
/// </summary>
public static class RequestAudit
{
    public static void Record(AuditQueue audit, TimeProvider time, HttpContext http, string action, string outcome,
        string? account = null, Guid? accountId = null, string? provider = null, string? detail = null, string? tokenHmac = null)
    {
        audit.Enqueue(AuditRow.Of(time.GetUtcNow(), action, outcome, http.Caller(), accountId, account, provider, detail, tokenHmac: tokenHmac));
        http.Features.Set(Recorded.Instance);
    }

    /// <summary>Marks the request as recorded by other means (a count of refusals), so no row of its own is written.</summary>
    public static void MarkRecorded(HttpContext http) => http.Features.Set(Recorded.Instance);

    public static bool IsRecorded(HttpContext http) => http.Features.Get<Recorded>() is not null;

    private sealed class Recorded
    {
        public static readonly Recorded Instance = new();
    }
}
