using System.Text.Json.Serialization;
using Broker.Domain;

namespace Broker.Api.Admin;

/// <summary>A client: a service (consumer) or a person (admin) holding an API key.</summary>
/// <param name="Name">Unique name, e.g. the service's name.</param>
/// <param name="Role">consumer (default), admin or metrics. An admin key fetches tokens only for the accounts it is granted too;
/// a metrics key reads /metrics and nothing else, and has no grants.</param>
/// <param name="Accounts">Accounts whose tokens the client may fetch.</param>
/// <param name="Providers">Providers all of whose accounts the client may fetch.</param>
public sealed record ClientRequest(string? Name, string? Role = null, List<string>? Accounts = null, List<string>? Providers = null);

/// <summary>The client's grants, replacing the ones it has.</summary>
/// <param name="Accounts">Accounts whose tokens the client may fetch.</param>
/// <param name="Providers">Providers all of whose accounts (present and future) the client may fetch.</param>
public sealed record GrantsRequest(List<string>? Accounts = null, List<string>? Providers = null);

/// <summary>How to rotate a client's key.</summary>
/// <param name="OverlapSeconds">How long the old key keeps working, so the service can switch without an outage
/// (default 0: the old key stops at once; at most 604800, a week).</param>
public sealed record RotateKeyRequest(int? OverlapSeconds = null);

/// <summary>A client as admins see it: never its key, only the key's first characters (but once, when it is made).</summary>
/// <param name="Name">The client's unique name.</param>
/// <param name="Role">consumer, admin or metrics.</param>
/// <param name="Accounts">Accounts granted one by one.</param>
/// <param name="Providers">Providers all of whose accounts are granted.</param>
/// <param name="KeyPrefix">The first characters of the current key, to tell keys apart.</param>
/// <param name="Revoked">Whether the key was revoked (it is refused from then on).</param>
/// <param name="RevokedAt">When it was revoked.</param>
/// <param name="PreviousKeyExpiresAt">Until when the key replaced by the last rotation still works.</param>
/// <param name="CreatedAt">When the client was created.</param>
/// <param name="UpdatedAt">When the client, its key or its grants last changed.</param>
/// <param name="ApiKey">The API key, present only in the answer that created or rotated it: store it now.</param>
public sealed record ClientResponse(
    string Name,
    string Role,
    IReadOnlyList<string> Accounts,
    IReadOnlyList<string> Providers,
    string KeyPrefix,
    bool Revoked,
    DateTimeOffset? RevokedAt,
    DateTimeOffset? PreviousKeyExpiresAt,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ApiKey = null)
{
    public static ClientResponse From(Client c, string? apiKey = null) => new(
        c.Name, c.Role.ToName(),
        c.Grants.Where(g => g.Account is not null).Select(g => g.Account!.Name).Order().ToList(),
        c.Grants.Where(g => g.Provider is not null).Select(g => g.Provider!.Name).Order().ToList(),
        c.KeyPrefix, c.RevokedAt is not null, c.RevokedAt, c.PreviousKeyHash is null ? null : c.PreviousKeyExpiresAt,
        c.CreatedAt, c.UpdatedAt, apiKey);

    public override string ToString() => $"ClientResponse {{ Name = {Name}, Role = {Role} }}";
}
