using Broker.Api.Auth;
using Broker.Domain;
using Broker.Infrastructure.Persistence;

namespace Broker.Api.Admin;

/// <summary>Adds the audit row of an admin change to the same unit of work as the change itself.</summary>
public static class AdminAudit
{
    public static void Record(BrokerDbContext db, HttpContext http, TimeProvider time, string action,
        string? account = null, Guid? accountId = null, string? provider = null, string? detail = null)
    {
        var client = http.Client();
        db.AuditEvents.Add(new AuditEvent
        {
            At = time.GetUtcNow(), Action = action, Outcome = "ok",
            ClientId = client?.Id, ClientName = client?.Name,
            AccountId = accountId, AccountName = account, ProviderName = provider, Detail = detail,
            RequestId = http.TraceIdentifier, RemoteIp = http.Connection.RemoteIpAddress?.ToString(),
        });
    }
}
