namespace Broker.Infrastructure.Upstream;

/// <summary>
/// Thrown by <see cref="UpstreamDestinations.ConnectAsync"/> when the upstream's host resolves only to addresses the
/// broker may not call; <see cref="UpstreamClient"/> turns it into <see cref="Domain.UpstreamOutcome.DestinationRefused"/>.
/// The message names the address and the setting that would allow it, never a secret.
/// </summary>
public sealed class UpstreamDestinationRefusedException(string message) : Exception(message);
