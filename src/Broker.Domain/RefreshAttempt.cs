using System.Security.Cryptography;
using System.Text;

namespace Broker.Domain;

/// <summary>
/// A refresh under way (docs/architecture.md, "Crash safety"): recorded and committed before the refresh token is
/// sent, removed with the answer. One still there when the next caller holds the account's lock is a refresh whose
/// answer was lost: the upstream may have spent the token.
/// </summary>
public sealed class RefreshAttempt
{
    public Guid AccountId { get; set; }
    public DateTimeOffset StartedAt { get; set; }

    /// <summary>
    /// SHA-256 (hex) of the refresh token sent: tells whether the attempt was made with the token stored now. A plain
    /// hash, not a keyed one, so it survives a rotation of keys; a refresh token is random enough not to be guessed from it.
    /// </summary>
    public required string TokenSha256 { get; set; }

    public static string Hash(string refreshToken) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(refreshToken)));
}
