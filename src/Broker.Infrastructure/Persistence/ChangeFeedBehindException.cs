namespace Broker.Infrastructure.Persistence;

/// <summary>
/// The change feed could not be read (recently enough, or for a key the directory may not know yet): the database is
/// out of reach for this instance, and the request is answered 503 like any database fault.
/// </summary>
public sealed class ChangeFeedBehindException(string message, Exception? inner = null) : Exception(message, inner);
