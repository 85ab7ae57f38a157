using Broker.Api.Auth;
using Broker.Api.Errors;
using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Broker.Api.Admin;

public static class ClientsApi
{
    /// <summary>A week: long enough to roll a key out everywhere, short enough that a forgotten old key dies.</summary>
    public const int MaxOverlapSeconds = 604_800;

    public static RouteGroupBuilder MapClients(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin/clients").WithTags("Clients").RequireClient(ClientRoles.Admin)
            .WithNameRuleAndAdminProblems();

        group.MapPost("", Create).WithName("CreateClient").WithSummary("Create a client; its API key is in this answer only")
            .WithDescription("role is consumer (default), admin or metrics. Grants name accounts, or providers to grant all their accounts. " +
                             "An admin key fetches tokens only for what it is granted, like any other key; a metrics key reads /metrics and nothing else.")
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("", List).WithName("ListClients").WithSummary("List clients and their grants");
        group.MapGet("/{name}", Get).WithName("GetClient").WithSummary("Get a client").ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{name}/grants", ReplaceGrants).WithName("ReplaceClientGrants").WithSummary("Replace a client's grants")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/{name}/rotate", Rotate).WithName("RotateClientKey").WithSummary("Give a client a new API key; it is in this answer only")
            .WithDescription("The old key keeps working for overlap_seconds (default 0: it stops at once). The body may be left out.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        group.MapPost("/{name}/revoke", Revoke).WithName("RevokeClient").WithSummary("Revoke a client's API key for good")
            .WithDescription("Refused with 409 for the last active admin, so nobody is locked out. Other broker instances " +
                             "hear of it through the change feed within Broker:Changes:PollInterval (250 ms by default).")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        group.MapDelete("/{name}", Delete).WithName("DeleteClient").WithSummary("Delete a client and its grants")
            .WithDescription("Refused with 409 for the last active admin.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        return group;
    }

    public static async Task<Results<Created<ClientResponse>, ValidationProblem, ProblemHttpResult>> Create(
        ClientRequest request, BrokerDbContext db, CacheInvalidation caches, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var errors = new FieldErrors();
        errors.Name("name", request.Name);
        if (request.Role is not null && ClientRoleNames.TryParse(request.Role) is null) errors.Add("role", "must be consumer, admin or metrics.");
        if (request.Role == "metrics" && (request.Accounts is { Count: > 0 } || request.Providers is { Count: > 0 }))
            errors.Add("role", "a metrics key reads /metrics only: it has no grants.");
        var grants = await ResolveGrantsAsync(db, request.Accounts, request.Providers, errors, ct);
        if (errors.Any) return Problems.Validation(errors.ToDictionary());
        if (await db.Clients.AnyAsync(c => c.Name == request.Name, ct))
            return Problems.Create(StatusCodes.Status409Conflict, Problems.Conflict, $"A client named '{request.Name}' exists already.");

        var now = time.GetUtcNow();
        var key = ApiKeys.New();
        var client = new Client
        {
            Id = Guid.CreateVersion7(), Name = request.Name!, Role = ClientRoleNames.TryParse(request.Role) ?? ClientRole.Consumer,
            KeyHash = ApiKeys.Hash(key), KeyPrefix = ApiKeys.DisplayPrefix(key), CreatedAt = now, UpdatedAt = now, Grants = grants,
        };
        db.Clients.Add(client);
        AdminAudit.Record(db, http, time, AuditActions.ClientCreated, detail: $"client {client.Name}");
        await db.SaveChangesAsync(ct);
        await caches.ClientChangedAsync(client.Id);
        return TypedResults.Created($"/admin/clients/{client.Name}", ClientResponse.From(client, key));
    }

    public static async Task<Ok<List<ClientResponse>>> List(BrokerDbContext db, CancellationToken ct) =>
        TypedResults.Ok((await WithGrants(db).AsNoTracking().OrderBy(c => c.Name).ToListAsync(ct)).Select(c => ClientResponse.From(c)).ToList());

    public static async Task<Results<Ok<ClientResponse>, ProblemHttpResult>> Get(string name, BrokerDbContext db, CancellationToken ct) =>
        await WithGrants(db).AsNoTracking().FirstOrDefaultAsync(c => c.Name == name, ct) is { } client
            ? TypedResults.Ok(ClientResponse.From(client))
            : Problems.NotFoundProblem("client");

    public static async Task<Results<Ok<ClientResponse>, ValidationProblem, ProblemHttpResult>> ReplaceGrants(
        string name, GrantsRequest request, BrokerDbContext db, CacheInvalidation caches, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var client = await WithGrants(db).FirstOrDefaultAsync(c => c.Name == name, ct);
        if (client is null) return Problems.NotFoundProblem("client");
        var errors = new FieldErrors();
        var wanted = await ResolveGrantsAsync(db, request.Accounts, request.Providers, errors, ct);
        if (errors.Any) return Problems.Validation(errors.ToDictionary());

        var changed = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var grant in client.Grants.ToList())
        {
            if (wanted.Any(w => w.AccountId == grant.AccountId && w.ProviderId == grant.ProviderId)) continue;
            client.Grants.Remove(grant);
            db.ClientGrants.Remove(grant);
            changed.Add(grant.AccountId is null ? "providers" : "accounts");
        }
        foreach (var grant in wanted)
        {
            if (client.Grants.Any(g => g.AccountId == grant.AccountId && g.ProviderId == grant.ProviderId)) continue;
            grant.ClientId = client.Id;
            // Added explicitly (EF puts it in client.Grants): found through the navigation with its key already set,
            // it would pass for an existing row.
            db.ClientGrants.Add(grant);
            changed.Add(grant.AccountId is null ? "providers" : "accounts");
        }
        if (changed.Count > 0)
        {
            client.UpdatedAt = time.GetUtcNow();
            AdminAudit.Record(db, http, time, AuditActions.ClientUpdated, detail: $"client {client.Name}; changed: {string.Join(", ", changed)}");
            await db.SaveChangesAsync(ct);
            await caches.ClientChangedAsync(client.Id);
        }
        return TypedResults.Ok(ClientResponse.From(client));
    }

    public static async Task<Results<Ok<ClientResponse>, ValidationProblem, ProblemHttpResult>> Rotate(
        string name, RotateKeyRequest? request, BrokerDbContext db, CacheInvalidation caches, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var overlap = request?.OverlapSeconds ?? 0;
        if (overlap is < 0 or > MaxOverlapSeconds)
            return Problems.Validation("overlap_seconds", $"must be from 0 to {MaxOverlapSeconds}.");
        var client = await WithGrants(db).FirstOrDefaultAsync(c => c.Name == name, ct);
        if (client is null) return Problems.NotFoundProblem("client");
        if (client.RevokedAt is not null)
            return Problems.Create(StatusCodes.Status409Conflict, Problems.Conflict, "This client is revoked; create a new one.");

        var now = time.GetUtcNow();
        var key = ApiKeys.New();
        client.PreviousKeyHash = overlap > 0 ? client.KeyHash : null;
        client.PreviousKeyPrefix = overlap > 0 ? client.KeyPrefix : null;
        client.PreviousKeyExpiresAt = overlap > 0 ? now.AddSeconds(overlap) : null;
        client.KeyHash = ApiKeys.Hash(key);
        client.KeyPrefix = ApiKeys.DisplayPrefix(key);
        client.UpdatedAt = now;
        AdminAudit.Record(db, http, time, AuditActions.ClientKeyRotated, detail: $"client {client.Name}; old key works {overlap} s more");
        await db.SaveChangesAsync(ct);
        await caches.ClientChangedAsync(client.Id);
        return TypedResults.Ok(ClientResponse.From(client, key));
    }

    public static async Task<Results<Ok<ClientResponse>, ProblemHttpResult>> Revoke(
        string name, BrokerDbContext db, CacheInvalidation caches, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var client = await WithGrants(db).FirstOrDefaultAsync(c => c.Name == name, ct);
        if (client is null) return Problems.NotFoundProblem("client");
        if (client.RevokedAt is not null) return TypedResults.Ok(ClientResponse.From(client));
        if (await IsLastActiveAdminAsync(db, client, ct)) return LastAdmin();

        var now = time.GetUtcNow();
        client.RevokedAt = now;
        client.UpdatedAt = now;
        AdminAudit.Record(db, http, time, AuditActions.ClientRevoked, detail: $"client {client.Name}");
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        await caches.ClientChangedAsync(client.Id);
        return TypedResults.Ok(ClientResponse.From(client));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> Delete(
        string name, BrokerDbContext db, CacheInvalidation caches, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var client = await db.Clients.FirstOrDefaultAsync(c => c.Name == name, ct);
        if (client is null) return Problems.NotFoundProblem("client");
        if (await IsLastActiveAdminAsync(db, client, ct)) return LastAdmin();

        db.Clients.Remove(client);
        AdminAudit.Record(db, http, time, AuditActions.ClientDeleted, detail: $"client {client.Name}");
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        await caches.ClientChangedAsync(client.Id);
        return TypedResults.NoContent();
    }

    /// <summary>
    /// Whether taking this client away would leave no active admin. Every active admin row is locked first, so two
    /// admins revoking each other at the same moment cannot both succeed.
    /// </summary>
    private static async Task<bool> IsLastActiveAdminAsync(BrokerDbContext db, Client client, CancellationToken ct)
    {
        if (client.Role != ClientRole.Admin || client.RevokedAt is not null) return false;
        var admins = await db.Clients.FromSql($"SELECT * FROM clients WHERE role = 'admin' AND revoked_at IS NULL ORDER BY id FOR UPDATE")
            .Select(c => c.Id).ToListAsync(ct);
        return admins.All(id => id == client.Id);
    }

    private static ProblemHttpResult LastAdmin() => Problems.Create(StatusCodes.Status409Conflict, Problems.Conflict,
        "This is the last active admin.", "Create another admin client first, so nobody is locked out.");

    private static IQueryable<Client> WithGrants(BrokerDbContext db) =>
        db.Clients.Include(c => c.Grants).ThenInclude(g => g.Account).Include(c => c.Grants).ThenInclude(g => g.Provider);

    /// <summary>Turns account and provider names into grants, naming every unknown one.</summary>
    private static async Task<List<ClientGrant>> ResolveGrantsAsync(
        BrokerDbContext db, List<string>? accounts, List<string>? providers, FieldErrors errors, CancellationToken ct)
    {
        var accountNames = (accounts ?? []).Distinct().ToList();
        var providerNames = (providers ?? []).Distinct().ToList();
        // Only names the broker could have created are looked up: anything else (a NUL, say) is simply unknown.
        var lookedUpAccounts = accountNames.Where(FieldErrors.IsName).ToList();
        var lookedUpProviders = providerNames.Where(FieldErrors.IsName).ToList();
        var foundAccounts = await db.Accounts.Where(a => lookedUpAccounts.Contains(a.Name)).ToListAsync(ct);
        var foundProviders = await db.Providers.Where(p => lookedUpProviders.Contains(p.Name)).ToListAsync(ct);
        foreach (var missing in accountNames.Except(foundAccounts.Select(a => a.Name))) errors.Add("accounts", $"no account is named '{Shown(missing)}'.");
        foreach (var missing in providerNames.Except(foundProviders.Select(p => p.Name))) errors.Add("providers", $"no provider is named '{Shown(missing)}'.");
        return
        [
            .. foundAccounts.Select(a => new ClientGrant { Id = Guid.CreateVersion7(), AccountId = a.Id, Account = a }),
            .. foundProviders.Select(p => new ClientGrant { Id = Guid.CreateVersion7(), ProviderId = p.Id, Provider = p }),
        ];
    }

    private static string Shown(string name) => SafeText.Shorten(name, Limits.Name);
}
