using Broker.Api.Auth;
using Broker.Domain;
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
        var client = http.Client();
        db.AuditEvents.Add(new AuditEvent
        {
            At = time.GetUtcNow(), Action = action, Outcome = outcome,
            ClientId = client?.Id, ClientName = client?.Name,
            AccountId = accountId, AccountName = SafeText.Shorten(account, Limits.Name), ProviderName = SafeText.Shorten(provider, Limits.Name),
            Detail = SafeText.Shorten(detail, Limits.Detail),
            RequestId = http.TraceIdentifier, RemoteIp = http.Connection.RemoteIpAddress?.ToString(),
        });
    }
}
