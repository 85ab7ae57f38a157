using System.Text.Json;
using Broker.Domain;
using Broker.Infrastructure.Persistence;

namespace Broker.Infrastructure.Webhooks;

/// <summary>
/// The body of a delivery (docs/webhooks.md): what happened to which account, in the account's own words as admins
/// see them. Built from names, the state and the cleaned last error only, so it cannot carry a token or secret.
/// </summary>
public static class WebhookPayload
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static string Build(Guid eventId, string type, DateTimeOffset at, string account, string provider, AccountState state,
        AttentionReason? attentionReason, string? lastError, DateTimeOffset? refreshExpiresAt = null) =>
        JsonSerializer.Serialize(new
        {
            Id = eventId,
            Type = type,
            CreatedAt = at,
            Data = new Dictionary<string, object?>
            {
                ["account"] = account,
                ["provider"] = provider,
                ["state"] = state.ToName(),
                ["attention_reason"] = attentionReason?.ToName(),
                ["last_error"] = SafeText.Shorten(lastError, Limits.Detail),
                ["refresh_expires_at"] = refreshExpiresAt,
            }.Where(e => e.Value is not null || e.Key == "last_error").ToDictionary(),
        }, Json);
}
