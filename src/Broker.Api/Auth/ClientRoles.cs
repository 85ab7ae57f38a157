using Broker.Domain;

namespace Broker.Api.Auth;

/// <summary>
/// Endpoint metadata: the endpoint serves only a client of one of these roles, authenticated by
/// <see cref="CallerAuthentication"/>. An endpoint without it serves anyone (health, Swagger, the connect callback).
/// </summary>
public sealed class ClientRoles
{
    private readonly ClientRole[] _roles;

    private ClientRoles(params ClientRole[] roles) => _roles = roles;

    /// <summary>The token API: a consumer's key, or an admin's. A metrics key reads /metrics and nothing else.</summary>
    public static ClientRoles TokenCaller { get; } = new(ClientRole.Consumer, ClientRole.Admin);

    public static ClientRoles Admin { get; } = new(ClientRole.Admin);

    /// <summary>Who may scrape <c>/metrics</c>: an admin or a metrics key.</summary>
    public static ClientRoles Metrics { get; } = new(ClientRole.Admin, ClientRole.Metrics);

    public bool Allows(ClientRole role) => Array.IndexOf(_roles, role) >= 0;
}

public static class ClientRolesExtensions
{
    /// <summary>The endpoints serve only a client of these roles (<see cref="CallerAuthentication"/>).</summary>
    public static TBuilder RequireClient<TBuilder>(this TBuilder builder, ClientRoles roles) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(roles);
}
