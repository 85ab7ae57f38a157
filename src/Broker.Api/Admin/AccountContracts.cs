using Broker.Domain;

namespace Broker.Api.Admin;

/// <summary>An upstream account: the credentials the broker logs in with.</summary>
/// <param name="Name">Unique name consumers fetch tokens by (e.g. <c>sliderule-prod</c>).</param>
/// <param name="Provider">The provider's name.</param>
/// <param name="Username">Upstream username (all dialects but oauth2-client-credentials).</param>
/// <param name="Password">Upstream password; write-only. On PUT, null keeps the stored one and "" removes it.</param>
/// <param name="OrgName">SlideRule organisation (sliderule dialect).</param>
/// <param name="ClientId">OAuth2 client id, overriding the provider's.</param>
/// <param name="ClientSecret">OAuth2 client secret, overriding the provider's; write-only. On PUT, null keeps the stored one and "" removes it.</param>
/// <param name="Scope">Scope, overriding the provider's.</param>
public sealed record AccountRequest(
    string? Name,
    string? Provider,
    string? Username = null,
    string? Password = null,
    string? OrgName = null,
    string? ClientId = null,
    string? ClientSecret = null,
    string? Scope = null)
{
    public override string ToString() => $"AccountRequest {{ Name = {Name}, Provider = {Provider}, Username = {Username} }}";
}

/// <summary>
/// An account as admins see it: never a secret, only whether one is set. attention_reason says why it is blocked (null
/// while active): credentials_rejected, secrets_missing, inactive or reconnect_required (it cannot log in by itself and
/// its refresh token is dead: import a new one). can_log_in is false for a refresh-only account, which lives on a
/// refresh token imported with PUT /admin/accounts/{name}/refresh-token.
/// </summary>
public sealed record AccountResponse(
    string Name,
    string Provider,
    string? Username,
    string? OrgName,
    string? ClientId,
    string? Scope,
    bool HasPassword,
    bool HasClientSecret,
    string State,
    DateTimeOffset? AccessExpiresAt,
    DateTimeOffset? RefreshExpiresAt,
    string? LastError,
    DateTimeOffset? LastLoginAt,
    DateTimeOffset? LastRefreshedAt,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    string? AttentionReason = null,
    bool CanLogIn = true)
{
    public static AccountResponse From(Account a, Provider provider) => new(
        a.Name, provider.Name, a.Username, a.OrgName, a.ClientId, a.Scope,
        a.PasswordEncrypted is not null, a.ClientSecretEncrypted is not null, a.State.ToName(),
        a.AccessTokenEncrypted is null ? null : a.AccessExpiresAt,
        a.RefreshTokenEncrypted is null ? null : a.RefreshExpiresAt,
        a.LastError, a.LastLoginAt, a.LastRefreshedAt, a.CreatedAt, a.UpdatedAt,
        a.AttentionReason?.ToName(), CredentialRules.CanLogIn(a, provider));
}

/// <summary>The fields to change; absent (null) fields stay as they are, "" removes one. Secrets are write-only.</summary>
/// <param name="Provider">Move the account to this provider.</param>
/// <param name="Username">Upstream username.</param>
/// <param name="Password">New upstream password; write-only.</param>
/// <param name="OrgName">SlideRule organisation.</param>
/// <param name="ClientId">OAuth2 client id, overriding the provider's.</param>
/// <param name="ClientSecret">New OAuth2 client secret, overriding the provider's; write-only.</param>
/// <param name="Scope">Scope, overriding the provider's.</param>
public sealed record AccountPatch(
    string? Provider = null,
    string? Username = null,
    string? Password = null,
    string? OrgName = null,
    string? ClientId = null,
    string? ClientSecret = null,
    string? Scope = null)
{
    public override string ToString() => $"AccountPatch {{ Provider = {Provider}, Username = {Username} }}";
}

/// <summary>The outcome of an admin's test login.</summary>
/// <param name="Account">The account's name.</param>
/// <param name="LoggedIn">Whether the upstream accepted the credentials and a new token set is stored.</param>
/// <param name="Failure">Why not, when not: needs_attention, inactive, upstream_unavailable, upstream_timeout,
/// upstream_protocol_error, upstream_endpoint_not_found, upstream_destination_refused, not_connected, database_unavailable or login_failed (an older token is still served).</param>
/// <param name="State">The account's state after the test: active, needs_attention or inactive.</param>
/// <param name="LastError">The upstream's last error, when the login failed.</param>
/// <param name="AccessExpiresAt">When the stored access token expires.</param>
/// <param name="RefreshExpiresAt">When the stored refresh token expires, when known.</param>
public sealed record AccountTestResponse(
    string Account,
    bool LoggedIn,
    string? Failure,
    string State,
    string? LastError,
    DateTimeOffset? AccessExpiresAt,
    DateTimeOffset? RefreshExpiresAt);

/// <summary>A refresh token obtained outside the broker (e.g. by a person's consent), for the broker to refresh with.</summary>
/// <param name="RefreshToken">The refresh token; write-only: never returned, logged or audited.</param>
/// <param name="RefreshExpiresAt">When it expires, when known (default: the provider's default_refresh_lifetime_seconds from now, else unknown).</param>
public sealed record RefreshTokenImport(string? RefreshToken, DateTimeOffset? RefreshExpiresAt = null)
{
    public override string ToString() => $"RefreshTokenImport {{ RefreshExpiresAt = {RefreshExpiresAt:O} }}";
}
