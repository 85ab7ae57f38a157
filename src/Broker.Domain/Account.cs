namespace Broker.Domain;

/// <summary>
/// One upstream user: its credentials and the single token set the broker holds for it. Every secret is stored
/// encrypted (the *Encrypted properties); the plaintext exists only in memory for an upstream call.
/// </summary>
public sealed class Account
{
    public Guid Id { get; set; }
    public required string Name { get; set; }
    public Guid ProviderId { get; set; }
    public Provider? Provider { get; set; }

    public string? Username { get; set; }
    public string? PasswordEncrypted { get; set; }
    public string? OrgName { get; set; }
    public string? ClientId { get; set; }
    public string? ClientSecretEncrypted { get; set; }
    public string? Scope { get; set; }

    public AccountState State { get; private set; } = AccountState.Active;
    /// <summary>Why the account is blocked; null while it is active.</summary>
    public AttentionReason? AttentionReason { get; private set; }
    public string? LastError { get; private set; }

    public string? AccessTokenEncrypted { get; private set; }
    public string? TokenType { get; private set; }
    public DateTimeOffset? AccessExpiresAt { get; private set; }
    public string? RefreshTokenEncrypted { get; private set; }
    public DateTimeOffset? RefreshExpiresAt { get; private set; }
    public DateTimeOffset? TokensObtainedAt { get; private set; }
    public DateTimeOffset? LastLoginAt { get; private set; }
    public DateTimeOffset? LastRefreshedAt { get; private set; }

    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    // Where the account sets none, its provider's client id, client secret and scope apply: one rule, for the
    // token path's calls, the connect flow's authorization URL and its code exchange.
    public string? ClientIdOn(Provider provider) => ClientId ?? provider.ClientId;

    public string? ClientSecretEncryptedOn(Provider provider) => ClientSecretEncrypted ?? provider.ClientSecretEncrypted;

    public string? ScopeOn(Provider provider) => Scope ?? provider.Scope;

    public StoredTokenState StoredTokens(Dialect dialect) => new(
        dialect, RefreshTokenEncrypted is not null, RefreshExpiresAt);

    /// <summary>A login's token set replaces the stored one whole; the account is fine again.</summary>
    public void LoggedIn(string accessTokenEncrypted, string tokenType, DateTimeOffset accessExpiresAt,
        string? refreshTokenEncrypted, DateTimeOffset? refreshExpiresAt, DateTimeOffset now)
    {
        RefreshTokenEncrypted = refreshTokenEncrypted;
        RefreshExpiresAt = refreshExpiresAt;
        LastLoginAt = now;
        Obtained(accessTokenEncrypted, tokenType, accessExpiresAt, now);
    }

    /// <summary>
    /// A person consented in a browser and the broker exchanged the code (oauth2-authorization-code): the token set
    /// replaces the stored one whole and the account is active again, whatever blocked it before.
    /// </summary>
    public void Connected(string accessTokenEncrypted, string tokenType, DateTimeOffset accessExpiresAt,
        string? refreshTokenEncrypted, DateTimeOffset? refreshExpiresAt, DateTimeOffset now)
    {
        State = AccountState.Active;
        AttentionReason = null;
        LoggedIn(accessTokenEncrypted, tokenType, accessExpiresAt, refreshTokenEncrypted, refreshExpiresAt, now);
    }

    /// <summary>
    /// A token was asked for an account the broker cannot log in by itself and holds no usable token for: it stays as
    /// it is, and says why, until a person connects it.
    /// </summary>
    public void NotConnected(string reason, DateTimeOffset now)
    {
        LastError = reason;
        UpdatedAt = now;
    }

    /// <summary>
    /// A refresh's token set. An answer without a refresh token (simplejwt without ROTATE_REFRESH_TOKENS) means the
    /// one we hold is still the one to use: it is kept, not wiped.
    /// </summary>
    public void Refreshed(string accessTokenEncrypted, string tokenType, DateTimeOffset accessExpiresAt,
        string? refreshTokenEncrypted, DateTimeOffset? refreshExpiresAt, DateTimeOffset now)
    {
        if (refreshTokenEncrypted is not null)
        {
            RefreshTokenEncrypted = refreshTokenEncrypted;
            RefreshExpiresAt = refreshExpiresAt;
        }
        LastRefreshedAt = now;
        Obtained(accessTokenEncrypted, tokenType, accessExpiresAt, now);
    }

    private void Obtained(string accessTokenEncrypted, string tokenType, DateTimeOffset accessExpiresAt, DateTimeOffset now)
    {
        AccessTokenEncrypted = accessTokenEncrypted;
        AccessExpiresAt = accessExpiresAt;
        TokenType = tokenType;
        TokensObtainedAt = now;
        LastError = null;
        UpdatedAt = now;
    }

    /// <summary>
    /// The upstream refused the credentials: no more logins until an admin acts, since logging in again and again
    /// could lock the upstream user out. A refresh-only account keeps its refresh token
    /// (<paramref name="keepRefreshToken"/>): refused client credentials say nothing of it, and once an admin has
    /// corrected them it is all the account has.
    /// </summary>
    public void CredentialsRejected(string reason, DateTimeOffset now, bool keepRefreshToken = false)
    {
        var (refreshToken, refreshExpiresAt) = (RefreshTokenEncrypted, RefreshExpiresAt);
        Block(AccountState.NeedsAttention, Domain.AttentionReason.CredentialsRejected, reason, now);
        if (keepRefreshToken) (RefreshTokenEncrypted, RefreshExpiresAt) = (refreshToken, refreshExpiresAt);
    }

    /// <summary>The upstream says the user is inactive.</summary>
    public void BecameInactive(string reason, DateTimeOffset now) => Block(AccountState.Inactive, Domain.AttentionReason.Inactive, reason, now);

    /// <summary>
    /// A secret the dialect logs in with is missing (cleared by a change of destination): no logins, and no tests,
    /// until an admin enters it.
    /// </summary>
    public void NeedsSecrets(string reason, DateTimeOffset now) =>
        Block(AccountState.NeedsAttention, Domain.AttentionReason.SecretsMissing, reason, now);

    /// <summary>
    /// The account cannot log in by itself and its refresh token is dead or may be: a person must consent again, and
    /// an admin import the new refresh token.
    /// </summary>
    public void ReconnectRequired(string reason, DateTimeOffset now) =>
        Block(AccountState.NeedsAttention, Domain.AttentionReason.ReconnectRequired, reason, now);

    /// <summary>
    /// An admin imported a refresh token (obtained elsewhere, e.g. by a person's consent): the next fetch refreshes
    /// with it. The stored access token goes, since it may belong to another chain; the account is fine again.
    /// </summary>
    public void RefreshTokenImported(string refreshTokenEncrypted, DateTimeOffset? refreshExpiresAt, DateTimeOffset now)
    {
        ClearTokens();
        RefreshTokenEncrypted = refreshTokenEncrypted;
        RefreshExpiresAt = refreshExpiresAt;
        State = AccountState.Active;
        AttentionReason = null;
        LastError = null;
        UpdatedAt = now;
    }

    /// <summary>A login or refresh failed without saying anything about the account: its state stays.</summary>
    public void CallFailed(string reason, DateTimeOffset now)
    {
        LastError = reason;
        UpdatedAt = now;
    }

    /// <summary>
    /// New credentials or settings are a new start: the admin has acted, and tokens of the old ones must not be served.
    /// A refresh-only account keeps its refresh token (<paramref name="keepRefreshToken"/>): it is all it has, and the
    /// next fetch refreshes with it under the new settings.
    /// </summary>
    public void StartAfresh(DateTimeOffset now, bool keepRefreshToken = false)
    {
        State = AccountState.Active;
        AttentionReason = null;
        LastError = null;
        var (refreshToken, refreshExpiresAt) = (RefreshTokenEncrypted, RefreshExpiresAt);
        ClearTokens();
        if (keepRefreshToken) (RefreshTokenEncrypted, RefreshExpiresAt) = (refreshToken, refreshExpiresAt);
        UpdatedAt = now;
    }

    /// <summary>
    /// An admin asked for a test of a blocked account: the issuer never logs in for one (that could lock the upstream
    /// user out), and the admin's say-so is the one exception, once per request.
    /// </summary>
    public void ReactivateForTest(DateTimeOffset now)
    {
        State = AccountState.Active;
        AttentionReason = null;
        LastError = null;
        UpdatedAt = now;
    }

    /// <summary>An admin revoked the tokens: the next fetch logs in again.</summary>
    public void Revoke(DateTimeOffset now)
    {
        ClearTokens();
        UpdatedAt = now;
    }

    /// <summary>A caller reported the access token rejected: it goes, the refresh token stays so the next fetch refreshes.</summary>
    public void DropAccessToken(DateTimeOffset now)
    {
        AccessTokenEncrypted = null;
        AccessExpiresAt = null;
        UpdatedAt = now;
    }

    /// <summary>
    /// An admin moved the account to another provider: a stored secret goes only where it was entered for, so those
    /// not entered again with the move (<paramref name="passwordReentered"/>, <paramref name="clientSecretReentered"/>)
    /// are cleared. Returns the names of those cleared.
    /// </summary>
    public List<string> MoveTo(Provider provider, bool passwordReentered, bool clientSecretReentered)
    {
        ProviderId = provider.Id;
        Provider = provider;
        return ClearSecrets(password: !passwordReentered, clientSecret: !clientSecretReentered);
    }

    /// <summary>
    /// An admin changed the account's settings (<paramref name="movedFrom"/>: the provider it left, when it moved;
    /// <paramref name="cleared"/>: the secrets that move cleared). It starts afresh; a refresh-only account keeps its
    /// refresh token unless it moved; an account that lost secrets needs them re-entered.
    /// </summary>
    public void SettingsChanged(Provider provider, string? movedFrom, IReadOnlyCollection<string> cleared, DateTimeOffset now)
    {
        StartAfresh(now, keepRefreshToken: movedFrom is null && !CredentialRules.CanLogIn(this, provider));
        if (cleared.Count > 0)
            NeedsSecrets($"secrets cleared: moved from provider {movedFrom} to {provider.Name}; re-enter {string.Join(", ", cleared)}", now);
    }

    /// <summary>
    /// An admin changed what its provider logs in with (<paramref name="movedSettings"/>: those of them that say
    /// where secrets are sent). The account starts afresh; a refresh-only one keeps its refresh token unless the
    /// destination changed, in which case its own secrets go (they cannot be re-entered in a provider request) and
    /// it needs whatever it now lacks. Returns the names of the secrets cleared.
    /// </summary>
    public List<string> ProviderChanged(Provider provider, IReadOnlyCollection<string> movedSettings, DateTimeOffset now)
    {
        StartAfresh(now, keepRefreshToken: movedSettings.Count == 0 && !CredentialRules.CanLogIn(this, provider));
        if (movedSettings.Count == 0) return [];
        var gone = ClearSecrets();
        var missing = CredentialRules.Missing(this, provider).ToList();
        if (gone.Count > 0 || missing.Count > 0)
            NeedsSecrets($"secrets cleared: provider {provider.Name}'s {string.Join(", ", movedSettings)} changed; " +
                         $"re-enter {string.Join(", ", gone.Union(missing))}", now);
        return gone;
    }

    /// <summary>Drops the stored password and client secret; returns the names of those it had.</summary>
    public List<string> ClearSecrets(bool password = true, bool clientSecret = true)
    {
        var cleared = new List<string>();
        if (password && PasswordEncrypted is not null)
        {
            PasswordEncrypted = null;
            cleared.Add("password");
        }
        if (clientSecret && ClientSecretEncrypted is not null)
        {
            ClientSecretEncrypted = null;
            cleared.Add("client_secret");
        }
        return cleared;
    }

    private void Block(AccountState state, AttentionReason why, string reason, DateTimeOffset now)
    {
        State = state;
        AttentionReason = why;
        LastError = reason;
        ClearTokens();
        UpdatedAt = now;
    }

    /// <summary>Forgets the token set (revocation, new credentials, rejected credentials).</summary>
    private void ClearTokens()
    {
        AccessTokenEncrypted = null;
        TokenType = null;
        AccessExpiresAt = null;
        RefreshTokenEncrypted = null;
        RefreshExpiresAt = null;
        TokensObtainedAt = null;
    }
}
