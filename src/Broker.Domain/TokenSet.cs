namespace Broker.Domain;

/// <summary>
/// What an upstream granted: the access token and, when the dialect has one, the refresh token.
/// Expiry times are absolute (UTC); a null refresh expiry means the upstream did not say.
/// </summary>
public sealed record TokenSet(
    string AccessToken,
    DateTimeOffset AccessExpiresAt,
    string? RefreshToken,
    DateTimeOffset? RefreshExpiresAt,
    string TokenType = "Bearer")
{
    /// <summary>
    /// A refresh response may omit the refresh token (simplejwt without ROTATE_REFRESH_TOKENS):
    /// then the one we hold stays valid and must be kept, not wiped.
    /// </summary>
    public TokenSet KeepingRefreshTokenOf(TokenSet? previous) =>
        RefreshToken is not null || previous?.RefreshToken is null
            ? this
            : this with { RefreshToken = previous.RefreshToken, RefreshExpiresAt = previous.RefreshExpiresAt };

    // Tokens must never reach a log line or an exception message by accident.
    public override string ToString() =>
        $"TokenSet {{ AccessExpiresAt = {AccessExpiresAt:O}, HasRefreshToken = {RefreshToken is not null}, RefreshExpiresAt = {RefreshExpiresAt:O} }}";
}
