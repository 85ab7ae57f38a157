namespace Broker.Client;

/// <summary>An upstream access token handed out by the broker.</summary>
/// <param name="Account">The broker account it belongs to.</param>
/// <param name="AccessToken">The token itself: send it, never log it.</param>
/// <param name="TokenType">The scheme to send it with, usually <c>Bearer</c>.</param>
/// <param name="ExpiresAt">
/// When it expires, by this process's clock: the earlier of the broker's <c>expires_at</c> and the moment of
/// receipt plus <c>expires_in</c>, so a clock that differs from the broker's does not stretch its life.
/// </param>
public sealed record BrokeredToken(string Account, string AccessToken, string TokenType, DateTimeOffset ExpiresAt)
{
    /// <summary>Everything but the token: records print every property, and this one must not reach a log.</summary>
    public override string ToString() => $"BrokeredToken {{ Account = {Account}, TokenType = {TokenType}, ExpiresAt = {ExpiresAt:O} }}";
}
