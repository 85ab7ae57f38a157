namespace Broker.Api.Tokens;

/// <summary>An access token for an upstream account. Never a refresh token: consumers must not fork the chain.</summary>
/// <param name="AccessToken">The upstream's access token, to send as <c>Authorization: {token_type} {access_token}</c>.</param>
/// <param name="TokenType">Usually <c>Bearer</c>.</param>
/// <param name="ExpiresAt">When the upstream says the token expires (ISO 8601, UTC).</param>
/// <param name="ExpiresIn">Seconds from now until <paramref name="ExpiresAt"/>.</param>
/// <param name="Account">The account the token belongs to.</param>
public sealed record TokenResponse(string AccessToken, string TokenType, DateTimeOffset ExpiresAt, long ExpiresIn, string Account)
{
    public override string ToString() => $"TokenResponse {{ Account = {Account}, ExpiresAt = {ExpiresAt:O} }}";
}

/// <summary>The token the upstream refused, so the broker drops it only if it is still the current one.</summary>
public sealed record RejectedTokenRequest(string? AccessToken)
{
    public override string ToString() => "RejectedTokenRequest";
}
