namespace Broker.Domain;

/// <summary>
/// One row of the append-only audit trail. Never holds a secret or a token. Most rows are one event; a rollup
/// (served tokens, counted refusals) stands for <see cref="Count"/> events from <see cref="FirstAt"/> to <see cref="LastAt"/>.
/// </summary>
public sealed class AuditEvent
{
    public long Id { get; set; }
    /// <summary>
    /// When the event happened; for a rollup, when its first event did as its row was first written. It never changes
    /// once written: the listing pages by it, and an index holds it.
    /// </summary>
    public DateTimeOffset At { get; set; }
    /// <summary>How many events the row stands for: 1, or more for a rollup.</summary>
    public int Count { get; set; } = 1;
    /// <summary>When a rollup's first event happened; null for a row of one event.</summary>
    public DateTimeOffset? FirstAt { get; set; }
    /// <summary>
    /// When a rollup's last event happened; null for a row of one event and for rollups written before migration 0016,
    /// whose <see cref="At"/> was their last event.
    /// </summary>
    public DateTimeOffset? LastAt { get; set; }
    public required string Action { get; set; }
    public required string Outcome { get; set; }
    public Guid? ClientId { get; set; }
    public string? ClientName { get; set; }
    public Guid? AccountId { get; set; }
    public string? AccountName { get; set; }
    public string? ProviderName { get; set; }
    public int? UpstreamStatus { get; set; }
    public int? UpstreamMs { get; set; }
    public string? Detail { get; set; }
    public string? RequestId { get; set; }
    public string? RemoteIp { get; set; }
    /// <summary>
    /// How the caller authenticated, never a secret: <c>key:&lt;key prefix&gt;</c>, <c>jwt:&lt;issuer&gt; &lt;subject&gt;</c> or
    /// <c>cert:&lt;thumbprint&gt;</c>. Null for rows without an authenticated caller.
    /// </summary>
    public string? Identity { get; set; }
    /// <summary>HMAC-SHA256 (hex) of the access token served or obtained, for correlation; never the token.</summary>
    public string? TokenHmac { get; set; }
    /// <summary>
    /// For a served-token rollup, the start of the period it merges into: every instance's windows of that period add
    /// their counts to one row per (client, identity, account, token, address, hit/miss). Null for every other row.
    /// </summary>
    public DateTimeOffset? PeriodStart { get; set; }
}

/// <summary>The action names of <see cref="AuditEvent.Action"/>; stable, reports group on them.</summary>
public static class AuditActions
{
    public const string TokenServed = "token.served";
    public const string TokenObtained = "token.obtained";
    public const string TokenRefreshed = "token.refreshed";
    public const string TokenFailed = "token.failed";
    public const string TokenRejected = "token.rejected";

    /// <summary>A refresh whose answer was lost was found by the next holder of the lock: retried, or given up (outcome).</summary>
    public const string TokenRefreshResumed = "token.refresh_resumed";
    public const string ProviderCreated = "provider.created";
    public const string ProviderUpdated = "provider.updated";
    public const string ProviderDeleted = "provider.deleted";
    public const string AccountCreated = "account.created";
    public const string AccountUpdated = "account.updated";
    public const string AccountDeleted = "account.deleted";
    public const string AccountTested = "account.tested";
    public const string AccountRevoked = "account.revoked";
    public const string AccountConnectStarted = "account.connect_started";
    public const string AccountConnected = "account.connected";
    public const string AccountConnectFailed = "account.connect_failed";
    public const string AccountRefreshTokenImported = "account.refresh_token_imported";
    public const string ClientCreated = "client.created";
    public const string ClientUpdated = "client.updated";
    public const string ClientKeyRotated = "client.key_rotated";
    public const string ClientRevoked = "client.revoked";
    public const string ClientDeleted = "client.deleted";
    public const string ClientIdentityBound = "client.identity_bound";
    public const string ClientIdentityUnbound = "client.identity_unbound";
    public const string IssuerCreated = "issuer.created";
    public const string IssuerUpdated = "issuer.updated";
    public const string IssuerDeleted = "issuer.deleted";
    public const string WebhookCreated = "webhook.created";
    public const string WebhookUpdated = "webhook.updated";
    public const string WebhookDeleted = "webhook.deleted";
    public const string AuthFailed = "auth.failed";
    public const string AuthForbidden = "auth.forbidden";
    public const string RequestRateLimited = "request.rate_limited";
    public const string RequestFailed = "request.failed";
    public const string AuditOverflow = "audit.overflow";

    /// <summary>Events the database refused to store (bad data, a permission): set aside so the rest is written.</summary>
    public const string AuditRejected = "audit.rejected";

    /// <summary>The actions of failures a caller was shown; the usage report counts these as failures.</summary>
    public static readonly IReadOnlyList<string> CallerFailures = [TokenFailed, AuthFailed, AuthForbidden, RequestRateLimited, RequestFailed];

    /// <summary>Every action name above, for validating filters.</summary>
    public static readonly IReadOnlyList<string> All = typeof(AuditActions)
        .GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
        .Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!).Order(StringComparer.Ordinal).ToList();
}
