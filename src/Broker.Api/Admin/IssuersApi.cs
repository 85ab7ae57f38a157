using System.Text.Json;
using Broker.Api.Auth;
using Broker.Api.Errors;
using Broker.Domain;
using Broker.Infrastructure.Identity;
using Broker.Infrastructure.Outbound;
using Broker.Infrastructure.Persistence;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Broker.Api.Admin;

/// <summary>
/// The issuers whose workload identity tokens (kind jwt) or client certificates (kind x509) the broker trusts. Every
/// change reaches every instance through the change feed, as a client's does; deleting an issuer deletes the identities
/// bound to it.
/// </summary>
public static class IssuersApi
{
    private static readonly string[] DefaultAlgorithms = ["RS256", "PS256", "ES256"];

    public static RouteGroupBuilder MapIssuers(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin/issuers").WithTags("Issuers").RequireClient(ClientRoles.Admin)
            .WithNameRuleAndAdminProblems();
        group.MapPost("", Create).WithName("CreateIssuer").WithSummary("Trust an issuer of workload identity tokens or client certificates")
            .WithDescription("kind jwt (default): its keys come from jwks_uri, a static jwks, or (neither given) its OIDC discovery; fetched " +
                             "through the same outbound rules as upstream calls. Only asymmetric algorithms: " +
                             string.Join(", ", TrustedIssuer.SupportedAlgorithms) + ". kind x509: certificates, the CA's PEM certificates " +
                             "(a root and any intermediates, never a private key); its client certificates authenticate the clients bound " +
                             "to their URI SAN or subject.")
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("", List).WithName("ListIssuers").WithSummary("List trusted issuers");
        group.MapGet("/{name}", Get).WithName("GetIssuer").WithSummary("Get a trusted issuer").ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{name}", Replace).WithName("ReplaceIssuer")
            .WithSummary("Replace a trusted issuer's settings (its static JWKS or CA certificates rotated, say); its identity bindings stay")
            .WithDescription("The same body as creating it, checked the same way; name and kind cannot change. Tokens and certificates " +
                             "validated before are checked again under the new settings on their next use, on every instance.")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapDelete("/{name}", Delete).WithName("DeleteIssuer").WithSummary("Stop trusting an issuer; the identities bound to it go too")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    public static async Task<Results<Created<IssuerResponse>, ValidationProblem, ProblemHttpResult>> Create(
        IssuerRequest request, BrokerDbContext db, OutboundDestinations destinations, CacheInvalidation caches, TimeProvider time,
        HttpContext http, CancellationToken ct)
    {
        var errors = new FieldErrors();
        errors.Name("name", request.Name);
        var kind = request.Kind is null ? IssuerKind.Jwt : IssuerKindNames.TryParse(request.Kind);
        if (kind is null) errors.Add("kind", "must be jwt or x509.");
        var now = time.GetUtcNow();
        var issuer = kind == IssuerKind.X509 ? CertificateAuthority(request, errors, now) : TokenIssuer(request, destinations, errors);
        if (errors.Any) return Problems.Validation(errors.ToDictionary());
        if (await db.Issuers.AnyAsync(i => i.Name == request.Name || (issuer.Issuer != null && i.Issuer == issuer.Issuer), ct))
            return Problems.Create(StatusCodes.Status409Conflict, Problems.Conflict, "An issuer with that name or iss exists already.");

        issuer.Id = Guid.CreateVersion7(now);
        issuer.CreatedAt = issuer.UpdatedAt = now;
        db.Issuers.Add(issuer);
        AdminAudit.Record(db, http, time, AuditActions.IssuerCreated,
            detail: issuer.Kind == IssuerKind.X509 ? $"{issuer.Name}: x509" : $"{issuer.Name}: {SafeText.Shorten(issuer.Issuer, 200)}");
        await db.SaveChangesAsync(ct);
        await caches.ClientsChangedAsync();
        return TypedResults.Created($"/admin/issuers/{issuer.Name}", IssuerResponse.From(issuer));
    }

    /// <summary>A JWT issuer: iss, audience, where its keys are, the algorithms and lifetime it may use.</summary>
    private static TrustedIssuer TokenIssuer(IssuerRequest request, OutboundDestinations destinations, FieldErrors errors)
    {
        if (string.IsNullOrEmpty(request.Issuer)) errors.Add("issuer", "is required.");
        else if (request.Issuer.Length > Limits.Url || !SafeText.IsClean(request.Issuer)) errors.Add("issuer", $"must be at most {Limits.Url} plain characters.");
        if (string.IsNullOrEmpty(request.Audience)) errors.Add("audience", "is required: a token must be meant for this broker.");
        else errors.Length("audience", request.Audience, WorkloadIdentityLimits.Audience);
        if (request.Certificates is not null) errors.Add("certificates", "are for an x509 issuer (kind x509); a jwt issuer has keys (jwks_uri, jwks).");
        var jwks = ValidateKeys(request, destinations, errors);
        var algorithms = request.Algorithms is { Count: > 0 } asked ? asked.Distinct().ToArray() : DefaultAlgorithms;
        if (algorithms.FirstOrDefault(a => !TrustedIssuer.SupportedAlgorithms.Contains(a)) is { } bad)
            errors.Add("algorithms", $"'{SafeText.Shorten(bad, 20)}' is not allowed: only {string.Join(", ", TrustedIssuer.SupportedAlgorithms)} (never none or an HMAC).");
        errors.Range("max_lifetime_seconds", request.MaxLifetimeSeconds, 60, 86_400);
        if (request.TokenType is { Length: > 0 } type && (type.Length > Limits.Name || !SafeText.IsClean(type)))
            errors.Add("token_type", $"must be at most {Limits.Name} plain characters.");
        return new TrustedIssuer
        {
            Name = request.Name ?? "", Kind = IssuerKind.Jwt, Issuer = request.Issuer, Audience = request.Audience,
            JwksUri = string.IsNullOrEmpty(request.JwksUri) ? null : request.JwksUri, Jwks = jwks, Algorithms = algorithms,
            MaxLifetimeSeconds = request.MaxLifetimeSeconds ?? 3600, TokenType = string.IsNullOrEmpty(request.TokenType) ? null : request.TokenType,
        };
    }

    /// <summary>An X.509 issuer: its CA certificates, and none of what checks a token.</summary>
    private static TrustedIssuer CertificateAuthority(IssuerRequest request, FieldErrors errors, DateTimeOffset now)
    {
        foreach (var (field, given) in new (string, bool)[]
                 {
                     ("issuer", request.Issuer is not null), ("audience", request.Audience is not null), ("jwks_uri", request.JwksUri is not null),
                     ("jwks", request.Jwks is not null), ("algorithms", request.Algorithms is not null),
                     ("max_lifetime_seconds", request.MaxLifetimeSeconds is not null), ("token_type", request.TokenType is not null),
                 })
            if (given) errors.Add(field, "is for a jwt issuer; an x509 issuer has certificates only.");
        if (string.IsNullOrEmpty(request.Certificates)) errors.Add("certificates", "is required: the CA certificates as PEM (the root and any intermediates).");
        else if (request.Certificates.Length > WorkloadIdentityLimits.Certificates)
            errors.Add("certificates", $"must be at most {WorkloadIdentityLimits.Certificates} characters.");
        else if (IssuerCertificates.Problem(request.Certificates, now) is { } problem) errors.Add("certificates", problem);
        return new TrustedIssuer { Name = request.Name ?? "", Kind = IssuerKind.X509, Algorithms = [], Certificates = request.Certificates };
    }

    public static async Task<Ok<List<IssuerResponse>>> List(BrokerDbContext db, CancellationToken ct) =>
        TypedResults.Ok((await db.Issuers.AsNoTracking().OrderBy(i => i.Name).ToListAsync(ct)).Select(IssuerResponse.From).ToList());

    public static async Task<Results<Ok<IssuerResponse>, ProblemHttpResult>> Get(string name, BrokerDbContext db, CancellationToken ct) =>
        await db.Issuers.AsNoTracking().FirstOrDefaultAsync(i => i.Name == name, ct) is { } issuer
            ? TypedResults.Ok(IssuerResponse.From(issuer))
            : Problems.NotFoundProblem("issuer");

    public static async Task<Results<Ok<IssuerResponse>, ValidationProblem, ProblemHttpResult>> Replace(
        string name, IssuerRequest request, BrokerDbContext db, OutboundDestinations destinations, CacheInvalidation caches, TimeProvider time,
        HttpContext http, CancellationToken ct)
    {
        var issuer = await db.Issuers.FirstOrDefaultAsync(i => i.Name == name, ct);
        if (issuer is null) return Problems.NotFoundProblem("issuer");
        var errors = new FieldErrors();
        if (request.Name is not null && request.Name != name) errors.Add("name", "cannot change; create an issuer of the new name instead.");
        var kind = request.Kind is null ? issuer.Kind : IssuerKindNames.TryParse(request.Kind);
        if (kind is null) errors.Add("kind", "must be jwt or x509.");
        else if (kind != issuer.Kind) errors.Add("kind", $"cannot change (this issuer is {issuer.Kind.ToName()}); create an issuer of the other kind instead.");
        if (errors.Any) return Problems.Validation(errors.ToDictionary());
        var now = time.GetUtcNow();
        var wanted = kind == IssuerKind.X509 ? CertificateAuthority(request, errors, now) : TokenIssuer(request with { Name = name }, destinations, errors);
        if (errors.Any) return Problems.Validation(errors.ToDictionary());
        if (wanted.Issuer is not null && await db.Issuers.AnyAsync(i => i.Id != issuer.Id && i.Issuer == wanted.Issuer, ct))
            return Problems.Create(StatusCodes.Status409Conflict, Problems.Conflict, "Another issuer has that iss.");

        var changed = new List<string>();
        void Set<T>(string field, T before, T after, Action<T> apply)
        {
            if (EqualityComparer<T>.Default.Equals(before, after)) return;
            apply(after);
            changed.Add(field);
        }
        Set("issuer", issuer.Issuer, wanted.Issuer, v => issuer.Issuer = v);
        Set("audience", issuer.Audience, wanted.Audience, v => issuer.Audience = v);
        Set("jwks_uri", issuer.JwksUri, wanted.JwksUri, v => issuer.JwksUri = v);
        Set("jwks", issuer.Jwks, wanted.Jwks, v => issuer.Jwks = v);
        if (!issuer.Algorithms.SequenceEqual(wanted.Algorithms)) { issuer.Algorithms = wanted.Algorithms; changed.Add("algorithms"); }
        Set("max_lifetime_seconds", issuer.MaxLifetimeSeconds, wanted.MaxLifetimeSeconds, v => issuer.MaxLifetimeSeconds = v);
        Set("token_type", issuer.TokenType, wanted.TokenType, v => issuer.TokenType = v);
        Set("certificates", issuer.Certificates, wanted.Certificates, v => issuer.Certificates = v);
        if (changed.Count == 0) return TypedResults.Ok(IssuerResponse.From(issuer));

        // The version every instance's key and validation caches compare: it must move, also for two changes within
        // one microsecond (PostgreSQL's resolution) or a clock that stood still.
        var stored = new DateTimeOffset(now.UtcTicks - now.UtcTicks % 10, TimeSpan.Zero);
        issuer.UpdatedAt = stored > issuer.UpdatedAt ? stored : issuer.UpdatedAt.AddMicroseconds(1);
        AdminAudit.Record(db, http, time, AuditActions.IssuerUpdated, detail: $"{issuer.Name}; changed: {string.Join(", ", changed)}");
        await db.SaveChangesAsync(ct);
        await caches.ClientsChangedAsync();
        return TypedResults.Ok(IssuerResponse.From(issuer));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> Delete(
        string name, BrokerDbContext db, CacheInvalidation caches, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var issuer = await db.Issuers.FirstOrDefaultAsync(i => i.Name == name, ct);
        if (issuer is null) return Problems.NotFoundProblem("issuer");
        db.Issuers.Remove(issuer);
        AdminAudit.Record(db, http, time, AuditActions.IssuerDeleted, detail: issuer.Name);
        await db.SaveChangesAsync(ct);
        await caches.ClientsChangedAsync();
        return TypedResults.NoContent();
    }

    /// <summary>Where the keys come from; returns the static JWKS as stored text, if one was given.</summary>
    private static string? ValidateKeys(IssuerRequest request, OutboundDestinations destinations, FieldErrors errors)
    {
        if (!string.IsNullOrEmpty(request.JwksUri) && request.Jwks is not null)
            errors.Add("jwks", "give jwks_uri or jwks, not both.");
        if (!string.IsNullOrEmpty(request.JwksUri))
        {
            errors.Url("jwks_uri", request.JwksUri, required: true);
            if (!errors.Has("jwks_uri") && destinations.UrlProblem(new Uri(request.JwksUri), request.Name) is { } problem) errors.Add("jwks_uri", problem);
        }
        else if (request.Jwks is null && !errors.Has("issuer") && !string.IsNullOrEmpty(request.Issuer))
        {
            // Discovery: the issuer itself is where the keys are found.
            if (!Uri.TryCreate(IssuerKeys.DiscoveryUrl(request.Issuer), UriKind.Absolute, out var discovery) || discovery.Scheme is not ("http" or "https"))
                errors.Add("issuer", "is not a URL: give jwks_uri or a static jwks.");
            else if (destinations.UrlProblem(discovery, request.Name) is { } problem) errors.Add("issuer", $"its discovery document {problem}");
        }
        if (request.Jwks is null) return null;

        var text = request.Jwks.ToJsonString();
        if (text.Length > WorkloadIdentityLimits.Jwks) errors.Add("jwks", $"must be at most {WorkloadIdentityLimits.Jwks} characters.");
        else
        {
            try
            {
                if (request.Jwks["keys"] is System.Text.Json.Nodes.JsonArray keys && keys.Any(k => k?["d"] is not null))
                    errors.Add("jwks", "holds a private key: give the public keys only.");
                else if (IssuerKeys.Parse(text).Count == 0) errors.Add("jwks", "holds no RSA or EC signing key.");
            }
            catch (Exception e) when (e is ArgumentException or JsonException or InvalidOperationException)
            {
                errors.Add("jwks", "is not a JWKS ({\"keys\": [...]}).");
            }
        }
        return text;
    }
}
