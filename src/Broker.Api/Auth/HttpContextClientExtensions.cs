using Broker.Infrastructure.Security;
using Broker.Infrastructure.Tokens;

namespace Broker.Api.Auth;

public static class HttpContextClientExtensions
{
    /// <summary>The client authenticated for this request (null on endpoints that serve anyone).</summary>
    public static AuthenticatedClient? Client(this HttpContext http) => http.Features.Get<AuthenticatedClient>();

    /// <summary>Who made this request, for the audit trail: its client (if any), request id and address.</summary>
    public static Caller Caller(this HttpContext http)
    {
        var client = http.Client();
        return new Caller(client?.Id, client?.Name, http.TraceIdentifier, http.Connection.RemoteIpAddress?.ToString(), client?.Identity);
    }
}
