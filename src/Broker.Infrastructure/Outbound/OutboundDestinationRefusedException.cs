namespace Broker.Infrastructure.Outbound;

/// <summary>
/// Thrown by <see cref="OutboundDestinations.ConnectAsync"/> when the upstream's host resolves only to addresses the
/// broker may not call; <see cref="UpstreamClient"/> turns it into <see cref="Domain.UpstreamOutcome.DestinationRefused"/>.
/// The message names the address and the setting that would allow it, never a secret.
/// </summary>
public sealed class OutboundDestinationRefusedException(string message) : Exception(message);
