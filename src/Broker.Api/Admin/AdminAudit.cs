using Broker.Api.Auth;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Persistence;

namespace Broker.Api.Admin;

/// <summary>
/// Adds the audit row of an admin change to the same unit of work as the change itself. The detail names the
/// fields that changed, never their values.
/// </summary>
public static class AdminAudit
{
    public static void Record(BrokerDbContext db, HttpContext http, TimeProvider time, string action,
        string? account = null, Guid? accountId = null, string? provider = null, string? detail = null, string outcome = "ok")
    {
        db.AuditEvents.Add(AuditRow.Of(time.GetUtcNow(), action, outcome, http.Caller(), accountId, account, provider, detail));
    }
}
