using Broker.Api.Auth;
using Broker.Api.Infrastructure;
using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Broker.Api.Admin;

public static class ProvidersApi
{
    public static RouteGroupBuilder MapProviders(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin/providers").WithTags("Providers").RequireAuthorization(ApiKeyAuthentication.AdminPolicy);

        group.MapPost("", Create).WithSummary("Create a provider")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("", List).WithSummary("List providers");
        group.MapGet("/{name}", Get).WithSummary("Get a provider").ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    public static async Task<Results<Created<ProviderResponse>, ValidationProblem, ProblemHttpResult>> Create(
        ProviderRequest request, BrokerDbContext db, SecretProtector secrets, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var errors = Validate(request);
        if (errors.Any) return Problems.Validation(errors.ToDictionary());
        if (await db.Providers.AnyAsync(p => p.Name == request.Name, ct))
            return Problems.Create(StatusCodes.Status409Conflict, Problems.Conflict, $"A provider named '{request.Name}' exists already.");

        var now = time.GetUtcNow();
        var provider = new Provider
        {
            Id = Guid.CreateVersion7(), Name = request.Name!, Dialect = DialectNames.Parse(request.Dialect!),
            TokenUrl = request.TokenUrl!, RefreshUrl = request.RefreshUrl, ClientId = request.ClientId,
            ClientSecretEncrypted = secrets.ProtectOrNull(SecretKind.ClientSecret, request.ClientSecret),
            ClientAuthentication = request.ClientAuthentication == "body" ? ClientAuthentication.Body : ClientAuthentication.Basic,
            RefreshTokenField = request.RefreshTokenField, Scope = request.Scope,
            DefaultAccessLifetimeSeconds = request.DefaultAccessLifetimeSeconds ?? 300,
            DefaultRefreshLifetimeSeconds = request.DefaultRefreshLifetimeSeconds,
            CreatedAt = now, UpdatedAt = now,
        };
        db.Providers.Add(provider);
        AdminAudit.Record(db, http, time, AuditActions.ProviderCreated, provider: provider.Name);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/admin/providers/{provider.Name}", ProviderResponse.From(provider));
    }

    public static async Task<Ok<List<ProviderResponse>>> List(BrokerDbContext db, CancellationToken ct) =>
        TypedResults.Ok((await db.Providers.AsNoTracking().OrderBy(p => p.Name).ToListAsync(ct)).Select(ProviderResponse.From).ToList());

    public static async Task<Results<Ok<ProviderResponse>, ProblemHttpResult>> Get(string name, BrokerDbContext db, CancellationToken ct) =>
        await db.Providers.AsNoTracking().FirstOrDefaultAsync(p => p.Name == name, ct) is { } provider
            ? TypedResults.Ok(ProviderResponse.From(provider))
            : Problems.NotFoundProblem("provider");

    internal static FieldErrors Validate(ProviderRequest request)
    {
        var errors = new FieldErrors();
        errors.Name("name", request.Name);
        if (string.IsNullOrEmpty(request.Dialect)) errors.Add("dialect", "is required.");
        else if (!DialectNames.TryParse(request.Dialect, out _))
            errors.Add("dialect", $"must be one of {string.Join(", ", DialectNames.All)}.");
        errors.Url("token_url", request.TokenUrl, required: true);
        errors.Url("refresh_url", request.RefreshUrl, required: false);
        errors.Length("client_id", request.ClientId, Limits.Identifier);
        errors.Length("client_secret", request.ClientSecret, Limits.Secret);
        errors.Length("refresh_token_field", request.RefreshTokenField, Limits.Name);
        errors.Length("scope", request.Scope, Limits.Scope);
        if (request.ClientAuthentication is not (null or "basic" or "body")) errors.Add("client_authentication", "must be basic or body.");
        errors.Range("default_access_lifetime_seconds", request.DefaultAccessLifetimeSeconds, 1, 31_536_000);
        errors.Range("default_refresh_lifetime_seconds", request.DefaultRefreshLifetimeSeconds, 1, 31_536_000);
        return errors;
    }
}
