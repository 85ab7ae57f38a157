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
    // Tokens must never reach a log line or an exception message by accident.
    public override string ToString() =>
        $"TokenSet {{ AccessExpiresAt = {AccessExpiresAt:O}, HasRefreshToken = {RefreshToken is not null}, RefreshExpiresAt = {RefreshExpiresAt:O} }}";
}
