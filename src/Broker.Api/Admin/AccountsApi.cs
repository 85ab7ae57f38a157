using Broker.Api.Auth;
using Broker.Api.Infrastructure;
using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Broker.Infrastructure.Tokens;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Broker.Api.Admin;

public static class AccountsApi
{
    public static RouteGroupBuilder MapAccounts(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin/accounts").WithTags("Accounts").RequireAuthorization(ApiKeyAuthentication.AdminPolicy);

        group.MapPost("", Create).WithSummary("Create an account")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("", List).WithSummary("List accounts with their state and token expiry");
        group.MapGet("/{name}", Get).WithSummary("Get an account").ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPatch("/{name}", Patch).WithSummary("Change some of an account's fields; new credentials clear needs_attention")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    public static async Task<Results<Created<AccountResponse>, ValidationProblem, ProblemHttpResult>> Create(
        AccountRequest request, BrokerDbContext db, SecretProtector secrets, ClientDirectory clients, TimeProvider time,
        HttpContext http, CancellationToken ct)
    {
        var provider = string.IsNullOrEmpty(request.Provider) ? null
            : await db.Providers.AsNoTracking().FirstOrDefaultAsync(p => p.Name == request.Provider, ct);
        var errors = Validate(request, provider);
        if (errors.Any) return Problems.Validation(errors.ToDictionary());
        if (await db.Accounts.AnyAsync(a => a.Name == request.Name, ct))
            return Problems.Create(StatusCodes.Status409Conflict, Problems.Conflict, $"An account named '{request.Name}' exists already.");

        var now = time.GetUtcNow();
        var account = new Account
        {
            Id = Guid.CreateVersion7(), Name = request.Name!, ProviderId = provider!.Id,
            Username = request.Username, PasswordEncrypted = secrets.ProtectOrNull(SecretKind.Password, request.Password),
            OrgName = request.OrgName, ClientId = request.ClientId,
            ClientSecretEncrypted = secrets.ProtectOrNull(SecretKind.ClientSecret, request.ClientSecret),
            Scope = request.Scope, CreatedAt = now, UpdatedAt = now,
        };
        db.Accounts.Add(account);
        AdminAudit.Record(db, http, time, AuditActions.AccountCreated, account.Name, account.Id, provider.Name);
        await db.SaveChangesAsync(ct);
        clients.Invalidate(); // provider-wide grants now include this account
        return TypedResults.Created($"/admin/accounts/{account.Name}", AccountResponse.From(account, provider.Name));
    }

    public static async Task<Results<Ok<AccountResponse>, ValidationProblem, ProblemHttpResult>> Patch(
        string name, AccountPatch patch, BrokerDbContext db, SecretProtector secrets, TokenCache cache, TimeProvider time,
        HttpContext http, CancellationToken ct)
    {
        var account = await db.Accounts.Include(a => a.Provider).FirstOrDefaultAsync(a => a.Name == name, ct);
        if (account is null) return Problems.NotFoundProblem("account");
        var errors = new FieldErrors();
        errors.Length("username", patch.Username, Limits.Identifier);
        errors.Length("password", patch.Password, Limits.Secret);
        errors.Length("org_name", patch.OrgName, Limits.Identifier);
        errors.Length("client_id", patch.ClientId, Limits.Identifier);
        errors.Length("client_secret", patch.ClientSecret, Limits.Secret);
        errors.Length("scope", patch.Scope, Limits.Scope);
        if (errors.Any) return Problems.Validation(errors.ToDictionary());

        var changed = new List<string>();
        if (patch.Username is not null && patch.Username != account.Username) { account.Username = patch.Username; changed.Add("username"); }
        if (patch.Password is not null) { account.PasswordEncrypted = secrets.Protect(SecretKind.Password, patch.Password); changed.Add("password"); }
        if (patch.OrgName is not null && patch.OrgName != account.OrgName) { account.OrgName = patch.OrgName; changed.Add("org_name"); }
        if (patch.ClientId is not null && patch.ClientId != account.ClientId) { account.ClientId = patch.ClientId; changed.Add("client_id"); }
        if (patch.ClientSecret is not null) { account.ClientSecretEncrypted = secrets.Protect(SecretKind.ClientSecret, patch.ClientSecret); changed.Add("client_secret"); }
        if (patch.Scope is not null && patch.Scope != account.Scope) { account.Scope = patch.Scope; changed.Add("scope"); }

        if (changed.Count > 0)
        {
            // New credentials are a new start: the admin has acted, and tokens of the old ones must not be served.
            account.State = AccountState.Active;
            account.LastError = null;
            account.ClearTokens();
            account.UpdatedAt = time.GetUtcNow();
            AdminAudit.Record(db, http, time, AuditActions.AccountUpdated, account.Name, account.Id, account.Provider!.Name,
                "changed: " + string.Join(", ", changed));
            await db.SaveChangesAsync(ct);
            cache.Remove(account.Name);
        }
        return TypedResults.Ok(AccountResponse.From(account, account.Provider!.Name));
    }

    public static async Task<Ok<List<AccountResponse>>> List(BrokerDbContext db, CancellationToken ct) =>
        TypedResults.Ok((await db.Accounts.AsNoTracking().Include(a => a.Provider).OrderBy(a => a.Name).ToListAsync(ct))
            .Select(a => AccountResponse.From(a, a.Provider!.Name)).ToList());

    public static async Task<Results<Ok<AccountResponse>, ProblemHttpResult>> Get(string name, BrokerDbContext db, CancellationToken ct) =>
        await db.Accounts.AsNoTracking().Include(a => a.Provider).FirstOrDefaultAsync(a => a.Name == name, ct) is { } account
            ? TypedResults.Ok(AccountResponse.From(account, account.Provider!.Name))
            : Problems.NotFoundProblem("account");

    /// <summary>Checks the fields, and that the account has every credential its provider's dialect logs in with.</summary>
    internal static FieldErrors Validate(AccountRequest request, Provider? provider)
    {
        var errors = new FieldErrors();
        errors.Name("name", request.Name);
        if (string.IsNullOrEmpty(request.Provider)) errors.Add("provider", "is required.");
        else if (provider is null) errors.Add("provider", $"no provider is named '{request.Provider}'.");
        errors.Length("username", request.Username, Limits.Identifier);
        errors.Length("password", request.Password, Limits.Secret);
        errors.Length("org_name", request.OrgName, Limits.Identifier);
        errors.Length("client_id", request.ClientId, Limits.Identifier);
        errors.Length("client_secret", request.ClientSecret, Limits.Secret);
        errors.Length("scope", request.Scope, Limits.Scope);
        if (provider is null) return errors;

        var why = $"for the {provider.Dialect.ToName()} dialect";
        if (provider.Dialect.UsesPassword())
        {
            errors.Required("username", request.Username, why);
            errors.Required("password", request.Password, why);
        }
        if (provider.Dialect == Dialect.SlideRule) errors.Required("org_name", request.OrgName, why);
        if (provider.Dialect is Dialect.OAuth2Password or Dialect.OAuth2ClientCredentials)
            errors.Required("client_id", request.ClientId ?? provider.ClientId, why + " (on the account or its provider)");
        if (provider.Dialect == Dialect.OAuth2ClientCredentials && provider.ClientSecretEncrypted is null)
            errors.Required("client_secret", request.ClientSecret, why + " (on the account or its provider)");
        return errors;
    }
}
