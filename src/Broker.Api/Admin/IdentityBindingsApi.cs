using Broker.Api.Auth;
using Broker.Api.Errors;
using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Broker.Api.Admin;

/// <summary>
/// The workload identities bound to a client: a request with a token of the issuer whose subject and claims match (or
/// a client certificate of an x509 issuer whose URI SAN or subject matches) is that client, with its grants. A client
/// may have API keys, identities or both.
/// </summary>
public static class IdentityBindingsApi
{
    public static RouteGroupBuilder MapIdentityBindings(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin/clients/{name}/identities").WithTags("Clients").RequireClient(ClientRoles.Admin)
            .WithNameRuleAndAdminProblems();
        group.MapPost("", Bind).WithName("BindIdentity").WithSummary("Bind a workload identity (issuer, subject, claims or certificate field) to a client")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("", List).WithName("ListIdentities").WithSummary("The identities bound to a client").ProducesProblem(StatusCodes.Status404NotFound);
        group.MapDelete("/{id}", Unbind).WithName("UnbindIdentity").WithSummary("Remove an identity from a client")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    public static async Task<Results<Created<IdentityBindingResponse>, ValidationProblem, ProblemHttpResult>> Bind(
        string name, IdentityBindingRequest request, BrokerDbContext db, CacheInvalidation caches, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var client = await db.Clients.FirstOrDefaultAsync(c => c.Name == name, ct);
        if (client is null) return Problems.NotFoundProblem("client");
        var errors = new FieldErrors();
        var issuer = string.IsNullOrEmpty(request.Issuer) ? null : await db.Issuers.AsNoTracking().FirstOrDefaultAsync(i => i.Name == request.Issuer, ct);
        if (issuer is null) errors.Add("issuer", string.IsNullOrEmpty(request.Issuer) ? "is required." : "names no trusted issuer (see /admin/issuers).");
        if (string.IsNullOrEmpty(request.Subject)) errors.Add("subject", "is required.");
        else if (request.Subject.Length > WorkloadIdentityLimits.Subject || !SafeText.IsClean(request.Subject))
            errors.Add("subject", $"must be at most {WorkloadIdentityLimits.Subject} plain characters.");
        else if (request.Subject.All(c => c == '*')) errors.Add("subject", "must name something: a bare * would admit every token of the issuer.");
        if (request.Claims is { Count: > WorkloadIdentityLimits.Claims }) errors.Add("claims", $"must be at most {WorkloadIdentityLimits.Claims}.");
        foreach (var (path, value) in request.Claims ?? [])
            if (path.Length is 0 or > Limits.Name || value.Length > Limits.Identifier || !SafeText.IsClean(path) || !SafeText.IsClean(value))
                errors.Add("claims", $"names and values must be plain text of at most {Limits.Name} and {Limits.Identifier} characters.");
        CertificateField? field = null;
        if (issuer?.Kind == IssuerKind.X509)
        {
            field = request.CertificateField is null ? CertificateField.UriSan : CertificateFieldNames.TryParse(request.CertificateField);
            if (field is null) errors.Add("certificate_field", "must be uri_san or subject_dn.");
            if (request.Claims is { Count: > 0 }) errors.Add("claims", "are for a jwt issuer: a client certificate is matched by its URI SAN or subject.");
        }
        else if (issuer is not null && request.CertificateField is not null)
            errors.Add("certificate_field", "is for a binding to an x509 issuer; a token is matched by its sub and claims.");
        if (errors.Any) return Problems.Validation(errors.ToDictionary());

        var now = time.GetUtcNow();
        var binding = new IdentityBinding
        {
            Id = Guid.CreateVersion7(now), ClientId = client.Id, IssuerId = issuer!.Id, Subject = request.Subject!,
            Claims = request.Claims is { Count: > 0 } claims ? new Dictionary<string, string>(claims) : null, CertificateField = field, CreatedAt = now,
        };
        db.IdentityBindings.Add(binding);
        AdminAudit.Record(db, http, time, AuditActions.ClientIdentityBound, detail: $"{client.Name}: {issuer.Name} {SafeText.Shorten(binding.Subject, 200)}");
        await db.SaveChangesAsync(ct);
        await caches.ClientChangedAsync(client.Id);
        return TypedResults.Created($"/admin/clients/{client.Name}/identities/{binding.Id}", Response(binding, issuer.Name));
    }

    public static async Task<Results<Ok<List<IdentityBindingResponse>>, ProblemHttpResult>> List(string name, BrokerDbContext db, CancellationToken ct)
    {
        var client = await db.Clients.AsNoTracking().FirstOrDefaultAsync(c => c.Name == name, ct);
        if (client is null) return Problems.NotFoundProblem("client");
        var bindings = await (from b in db.IdentityBindings.AsNoTracking()
                              join i in db.Issuers on b.IssuerId equals i.Id
                              where b.ClientId == client.Id
                              orderby b.Id
                              select new { Binding = b, Issuer = i.Name }).ToListAsync(ct);
        return TypedResults.Ok(bindings.Select(b => Response(b.Binding, b.Issuer)).ToList());
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> Unbind(
        string name, string id, BrokerDbContext db, CacheInvalidation caches, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var client = await db.Clients.AsNoTracking().FirstOrDefaultAsync(c => c.Name == name, ct);
        if (client is null) return Problems.NotFoundProblem("client");
        var binding = Guid.TryParse(id, out var key)
            ? await db.IdentityBindings.FirstOrDefaultAsync(b => b.Id == key && b.ClientId == client.Id, ct)
            : null;
        if (binding is null) return Problems.NotFoundProblem("identity");
        db.IdentityBindings.Remove(binding);
        AdminAudit.Record(db, http, time, AuditActions.ClientIdentityUnbound, detail: $"{client.Name}: {SafeText.Shorten(binding.Subject, 200)}");
        await db.SaveChangesAsync(ct);
        await caches.ClientChangedAsync(client.Id);
        return TypedResults.NoContent();
    }

    private static IdentityBindingResponse Response(IdentityBinding b, string issuer) =>
        new(b.Id, issuer, b.Subject, b.Claims, b.CreatedAt, b.CertificateField?.ToName());
}
