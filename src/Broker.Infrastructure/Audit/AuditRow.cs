using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Tokens;

namespace Broker.Infrastructure.Audit;

/// <summary>
/// Where every audit row is made: who asked (a <see cref="Caller"/>), about which account and provider, and what
/// happened. Names and details are cut to their columns here, on code-point boundaries: they may come from a request,
/// and a queue full of oversized text would hold megabytes.
/// </summary>
public static class AuditRow
{
    /// <summary>The row of one event.</summary>
    public static AuditEvent Of(DateTimeOffset at, string action, string outcome, Caller? by = null,
        Guid? accountId = null, string? account = null, string? provider = null, string? detail = null,
        int? upstreamStatus = null, int? upstreamMs = null, string? tokenHmac = null) => new()
    {
        At = at, Action = action, Outcome = outcome,
        ClientId = by?.ClientId, ClientName = SafeText.Shorten(by?.ClientName, Limits.Name),
        RequestId = by?.RequestId, RemoteIp = by?.RemoteIp, Identity = SafeText.Shorten(by?.Identity, Limits.Identity),
        AccountId = accountId, AccountName = SafeText.Shorten(account, Limits.Name), ProviderName = SafeText.Shorten(provider, Limits.Name),
        UpstreamStatus = upstreamStatus, UpstreamMs = upstreamMs,
        Detail = SafeText.Shorten(detail, Limits.Detail), TokenHmac = tokenHmac,
    };

    /// <summary>
    /// A row that stands for <paramref name="count"/> like events from <paramref name="first"/> to
    /// <paramref name="last"/>; <paramref name="by"/> names the first request's id.
    /// </summary>
    public static AuditEvent Rollup(DateTimeOffset first, DateTimeOffset last, int count, string action, string outcome, Caller by,
        Guid? accountId = null, string? account = null, string? provider = null, string? detail = null,
        string? tokenHmac = null, DateTimeOffset? periodStart = null)
    {
        var row = Of(first, action, outcome, by, accountId, account, provider, detail, tokenHmac: tokenHmac);
        row.FirstAt = first;
        row.LastAt = last;
        row.Count = count;
        row.PeriodStart = periodStart;
        return row;
    }
}
