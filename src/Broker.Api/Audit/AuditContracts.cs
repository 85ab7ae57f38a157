using Broker.Domain;

namespace Broker.Api.Audit;

/// <summary>One page of the audit trail, newest first; follow <c>next_cursor</c> until it is null.</summary>
public sealed record AuditPage(IReadOnlyList<AuditItem> Items, string? NextCursor);

/// <summary>
/// One audit event. <c>client</c> is the actor: the consumer or admin client whose key made the request
/// ("broker" for the broker's own background work, null when no valid key was given); <c>identity</c> says how it
/// authenticated: <c>key:&lt;key prefix&gt;</c>, <c>jwt:&lt;issuer&gt; &lt;subject&gt;</c> or <c>cert:&lt;thumbprint&gt;</c>
/// (null without an authenticated caller, and in rows written before the broker recorded it). <c>detail</c> names the
/// fields an admin change touched (never their values); <c>token_hmac</c> is the keyed hash of the access token
/// served or obtained, never the token. A row may stand for several events: served tokens are rolled up per client,
/// identity, account, token, address and hit/miss over a period (<c>Broker:Audit:RollupPeriod</c>, a minute by
/// default: <c>count</c> fetches from <c>first_at</c> to
/// <c>last_at</c>), as are refused requests per client, address and minute; for any other row <c>count</c> is 1 and
/// <c>first_at</c> = <c>last_at</c> = <c>at</c>. A rollup's <c>at</c> is its first event as its row was first written
/// (<c>first_at</c> ≤ <c>at</c> ≤ <c>last_at</c>) and never changes: it is the order of the listing, so a row keeps its
/// place while its period is still counting.
/// </summary>
public sealed record AuditItem(
    DateTimeOffset At,
    int Count,
    DateTimeOffset FirstAt,
    DateTimeOffset LastAt,
    string Action,
    string Outcome,
    string? Client,
    string? Identity,
    string? Account,
    string? Provider,
    int? UpstreamStatus,
    int? UpstreamMs,
    string? RequestId,
    string? RemoteIp,
    string? Detail,
    string? TokenHmac)
{
    public static AuditItem From(AuditEvent e) => new(e.At, e.Count, e.FirstAt ?? e.At, e.LastAt ?? e.At, e.Action, e.Outcome, e.ClientName, e.Identity, e.AccountName, e.ProviderName,
        e.UpstreamStatus, e.UpstreamMs, e.RequestId, e.RemoteIp, e.Detail, e.TokenHmac);
}

/// <summary>A token whose HMAC is wanted, to look it up in the trail (<c>GET /admin/audit?token_hmac=</c>).</summary>
public sealed record TokenHmacRequest(string? AccessToken);

public sealed record TokenHmacResponse(string TokenHmac);

/// <summary>
/// Counts over [from, to) for each combination of the <c>group_by</c> keys (in their order), within the filters:
/// tokens served, upstream logins and refreshes (any outcome), and the failures consumers were shown.
/// </summary>
public sealed record UsageReport(DateTimeOffset From, DateTimeOffset To, IReadOnlyList<string> GroupBy, UsageFilters Filters, IReadOnlyList<UsageRow> Rows);

/// <summary>The filters a report was made with; null where none was given.</summary>
public sealed record UsageFilters(string? Client, string? Account, string? Provider, string? Action);

/// <summary>
/// One group of the usage report. <c>keys</c> holds one entry per <c>group_by</c> key, e.g.
/// <c>{"client": "billing-svc", "account": "acme-prod"}</c>; a null value collects events without a client, account
/// or provider. <c>failures</c> counts failed consumer requests (a row of counted refusals adds its count); admins'
/// own failures are not in it.
/// </summary>
public sealed record UsageRow(IReadOnlyDictionary<string, string?> Keys, long Served, long Logins, long Refreshes, long Failures);
