using Broker.Api.Auth;
using Broker.Api.Hosting;
using Broker.Api.OpenApi;
using Broker.Api.Pipeline;
using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Persistence;

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
        var client = http.Client();
        audit.Enqueue(new AuditEvent
        {
            At = time.GetUtcNow(), Action = action, Outcome = outcome,
            ClientId = client?.Id, ClientName = client?.Name,
            // Shortened here, not only when written: names and details come from the request, and a queue full of
            // 30 KiB names would hold megabytes.
            AccountId = accountId, AccountName = SafeText.Shorten(account, Limits.Name), ProviderName = SafeText.Shorten(provider, Limits.Name),
            Detail = SafeText.Shorten(detail, Limits.Detail),
            RequestId = http.TraceIdentifier, RemoteIp = http.Connection.RemoteIpAddress?.ToString(),
            TokenHmac = tokenHmac,
        });
        http.Features.Set(Recorded.Instance);
    }

    public static bool IsRecorded(HttpContext http) => http.Features.Get<Recorded>() is not null;

    private sealed class Recorded
    {
        public static readonly Recorded Instance = new();
    }
}
