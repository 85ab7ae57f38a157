using Broker.Api.Auth;
using Broker.Api.Infrastructure;
using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Broker.Api.Admin;

public static class ClientsApi
{
    public static RouteGroupBuilder MapClients(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin/clients").WithTags("Clients").RequireAuthorization(ApiKeyAuthentication.AdminPolicy);

        group.MapPost("", Create).WithSummary("Create a client; its API key is in this answer only")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("", List).WithSummary("List clients and their grants");
        group.MapGet("/{name}", Get).WithSummary("Get a client").ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    public static async Task<Results<Created<ClientResponse>, ValidationProblem, ProblemHttpResult>> Create(
        ClientRequest request, BrokerDbContext db, ClientDirectory clients, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var errors = new FieldErrors();
        errors.Name("name", request.Name);
        if (request.Role is not (null or "consumer" or "admin")) errors.Add("role", "must be consumer or admin.");
        var grants = await ResolveGrantsAsync(db, request, errors, ct);
        if (errors.Any) return Problems.Validation(errors.ToDictionary());
        if (await db.Clients.AnyAsync(c => c.Name == request.Name, ct))
            return Problems.Create(StatusCodes.Status409Conflict, Problems.Conflict, $"A client named '{request.Name}' exists already.");

        var now = time.GetUtcNow();
        var key = ApiKeys.New();
        var client = new Client
        {
            Id = Guid.CreateVersion7(), Name = request.Name!, Role = request.Role == "admin" ? ClientRole.Admin : ClientRole.Consumer,
            KeyHash = ApiKeys.Hash(key), KeyPrefix = ApiKeys.DisplayPrefix(key), CreatedAt = now, UpdatedAt = now, Grants = grants,
        };
        db.Clients.Add(client);
        AdminAudit.Record(db, http, time, AuditActions.ClientCreated, detail: $"client {client.Name}");
        await db.SaveChangesAsync(ct);
        clients.Invalidate();
        return TypedResults.Created($"/admin/clients/{client.Name}", ClientResponse.From(client, key));
    }

    public static async Task<Ok<List<ClientResponse>>> List(BrokerDbContext db, CancellationToken ct) =>
        TypedResults.Ok((await WithGrants(db).OrderBy(c => c.Name).ToListAsync(ct)).Select(c => ClientResponse.From(c)).ToList());

    public static async Task<Results<Ok<ClientResponse>, ProblemHttpResult>> Get(string name, BrokerDbContext db, CancellationToken ct) =>
        await WithGrants(db).FirstOrDefaultAsync(c => c.Name == name, ct) is { } client
            ? TypedResults.Ok(ClientResponse.From(client))
            : Problems.NotFoundProblem("client");

    internal static IQueryable<Client> WithGrants(BrokerDbContext db) =>
        db.Clients.AsNoTracking().Include(c => c.Grants).ThenInclude(g => g.Account).Include(c => c.Grants).ThenInclude(g => g.Provider);

    /// <summary>Turns account and provider names into grants, naming every unknown one.</summary>
    internal static async Task<List<ClientGrant>> ResolveGrantsAsync(BrokerDbContext db, ClientRequest request, FieldErrors errors, CancellationToken ct)
    {
        var accountNames = (request.Accounts ?? []).Distinct().ToList();
        var providerNames = (request.Providers ?? []).Distinct().ToList();
        var accounts = await db.Accounts.Where(a => accountNames.Contains(a.Name)).ToListAsync(ct);
        var providers = await db.Providers.Where(p => providerNames.Contains(p.Name)).ToListAsync(ct);
        foreach (var missing in accountNames.Except(accounts.Select(a => a.Name))) errors.Add("accounts", $"no account is named '{missing}'.");
        foreach (var missing in providerNames.Except(providers.Select(p => p.Name))) errors.Add("providers", $"no provider is named '{missing}'.");
        return
        [
            .. accounts.Select(a => new ClientGrant { Id = Guid.CreateVersion7(), AccountId = a.Id, Account = a }),
            .. providers.Select(p => new ClientGrant { Id = Guid.CreateVersion7(), ProviderId = p.Id, Provider = p }),
        ];
    }
}
