using Broker.Api.Auth;
using Broker.Api.Errors;
using Broker.Domain;
using Broker.Infrastructure.Outbound;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Broker.Api.Admin;

public static class ProvidersApi
{
    private const string DestinationRule =
        " token_url and refresh_url must be https and reach a public address, unless Broker:Upstream:AllowPlainHttp and " +
        "Broker:Upstream:AllowedNetworks allow otherwise; a URL that is refused by its scheme or by an IP address (or localhost) " +
        "in it is a 400 here, an address refused only once resolved fails the token fetch with upstream-destination-refused.";

    public static RouteGroupBuilder MapProviders(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin/providers").WithTags("Providers").RequireClient(ClientRoles.Admin)
            .WithNameRuleAndAdminProblems();

        group.MapPost("", Create).WithName("CreateProvider").WithSummary("Create a provider")
            .WithDescription("A provider is an upstream token endpoint and the dialect it speaks. client_secret is write-only." + DestinationRule)
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("", List).WithName("ListProviders").WithSummary("List providers");
        group.MapGet("/{name}", Get).WithName("GetProvider").WithSummary("Get a provider").ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{name}", Replace).WithName("ReplaceProvider").WithSummary("Replace a provider's settings")
            .WithDescription("Every field is set as given; name may be left out but not changed. client_secret is write-only: " +
                             "leave it out (null) to keep the stored one, \"\" to remove it. A change to how the broker logs in " +
                             "(dialect, URLs, client id or secret, client authentication, refresh token field, scope) starts the " +
                             "provider's accounts afresh: their tokens are dropped and needs_attention is cleared. A stored secret is " +
                             "sent only where it was entered for: changing dialect, token_url, refresh_url or client_authentication " +
                             "clears the stored client_secret unless it is re-entered in the same request, and clears the password and " +
                             "client_secret of each of the provider's accounts, which then need attention (last_error says why) until " +
                             "an admin re-enters them (docs/providers.md, \"Where secrets go\")." + DestinationRule)
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapDelete("/{name}", Delete).WithName("DeleteProvider").WithSummary("Delete a provider that no account uses")
            .WithDescription("Refused with 409 while accounts use the provider: delete them or move them to another provider first. " +
                             "Grants on the provider go with it.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        group.MapProviderCheck();
        return group;
    }

    public static async Task<Results<Created<ProviderResponse>, ValidationProblem, ProblemHttpResult>> Create(
        ProviderRequest request, BrokerDbContext db, SecretProtector secrets, OutboundDestinations destinations, TimeProvider time,
        HttpContext http, CancellationToken ct)
    {
        var errors = Validate(request, request.Name, destinations);
        errors.Name("name", request.Name);
        if (errors.Any) return Problems.Validation(errors.ToDictionary());
        if (await db.Providers.AnyAsync(p => p.Name == request.Name, ct))
            return Problems.Create(StatusCodes.Status409Conflict, Problems.Conflict, $"A provider named '{request.Name}' exists already.");

        var now = time.GetUtcNow();
        var provider = new Provider
        {
            Id = Guid.CreateVersion7(), Name = request.Name!, Dialect = DialectNames.Parse(request.Dialect!),
            TokenUrl = request.TokenUrl!, RefreshUrl = Blank(request.RefreshUrl), ClientId = Blank(request.ClientId),
            ClientSecretEncrypted = secrets.ProtectOrNull(SecretKind.ClientSecret, Blank(request.ClientSecret)),
            ClientAuthentication = request.ClientAuthentication == "body" ? ClientAuthentication.Body : ClientAuthentication.Basic,
            RefreshTokenField = Blank(request.RefreshTokenField), Scope = Blank(request.Scope),
            DefaultAccessLifetimeSeconds = request.DefaultAccessLifetimeSeconds ?? 300,
            DefaultRefreshLifetimeSeconds = request.DefaultRefreshLifetimeSeconds,
            TimeoutSeconds = request.TimeoutSeconds,
            AuthorizationUrl = Blank(request.AuthorizationUrl), AuthorizationParameters = Parameters(request.AuthorizationParameters),
            RefreshReuseGraceSeconds = request.RefreshReuseGraceSeconds,
            Issuer = Blank(request.Issuer), IssuerRequired = request.IssuerRequired ?? false,
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

    public static async Task<Results<Ok<ProviderResponse>, ValidationProblem, ProblemHttpResult>> Replace(
        string name, ProviderRequest request, BrokerDbContext db, SecretProtector secrets, OutboundDestinations destinations,
        CacheInvalidation caches, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var provider = await AccountLocks.LockProviderAsync(db, name, ct);
        if (provider is null) return Problems.NotFoundProblem("provider");

        var errors = Validate(request, name, destinations);
        if (request.Name is not null && request.Name != name) errors.Add("name", "must be the name in the URL: providers cannot be renamed.");
        if (errors.Any) return Problems.Validation(errors.ToDictionary());

        // The accounts' row locks, taken as the token issuer takes them: no login with the old settings can
        // finish after this change and leave its tokens behind.
        var accounts = await AccountLocks.LockAccountsOfAsync(db, provider.Id, ct);
        var dialect = DialectNames.Parse(request.Dialect!);
        var clientId = Blank(request.ClientId);
        var hasSecret = CredentialRules.SecretAfterWrite(request.ClientSecret, provider.ClientSecretEncrypted is not null);
        // A change may not take away what an account logs in with (or refreshes with, for a refresh-only account).
        foreach (var account in accounts)
        foreach (var missing in CredentialRules.CanLogIn(account, provider)
                     ? CredentialRules.Missing(dialect, CredentialRules.Of(account, clientId is not null, hasSecret))
                     : CredentialRules.Required(dialect, CredentialRules.Of(account, clientId is not null, hasSecret)))
            errors.Add(missing is "client_id" or "client_secret" ? missing : "dialect",
                $"account '{account.Name}' would have no {missing}, which the {dialect.ToName()} dialect needs.");
        if (errors.Any) return Problems.Validation(errors.ToDictionary());

        var changed = new List<string>();
        void Set<T>(string field, T current, T next, Action<T> apply)
        {
            if (EqualityComparer<T>.Default.Equals(current, next)) return;
            apply(next);
            changed.Add(field);
        }
        Set("dialect", provider.Dialect, dialect, v => provider.Dialect = v);
        Set("token_url", provider.TokenUrl, request.TokenUrl!, v => provider.TokenUrl = v);
        Set("refresh_url", provider.RefreshUrl, Blank(request.RefreshUrl), v => provider.RefreshUrl = v);
        Set("client_id", provider.ClientId, clientId, v => provider.ClientId = v);
        if (request.ClientSecret is not null && (request.ClientSecret != "" || provider.ClientSecretEncrypted is not null))
        {
            provider.ClientSecretEncrypted = secrets.ProtectOrNull(SecretKind.ClientSecret, Blank(request.ClientSecret));
            changed.Add("client_secret");
        }
        Set("client_authentication", provider.ClientAuthentication,
            request.ClientAuthentication == "body" ? ClientAuthentication.Body : ClientAuthentication.Basic, v => provider.ClientAuthentication = v);
        Set("refresh_token_field", provider.RefreshTokenField, Blank(request.RefreshTokenField), v => provider.RefreshTokenField = v);
        Set("scope", provider.Scope, Blank(request.Scope), v => provider.Scope = v);
        Set("default_access_lifetime_seconds", provider.DefaultAccessLifetimeSeconds, request.DefaultAccessLifetimeSeconds ?? 300,
            v => provider.DefaultAccessLifetimeSeconds = v);
        Set("default_refresh_lifetime_seconds", provider.DefaultRefreshLifetimeSeconds, request.DefaultRefreshLifetimeSeconds,
            v => provider.DefaultRefreshLifetimeSeconds = v);
        Set("timeout_seconds", provider.TimeoutSeconds, request.TimeoutSeconds, v => provider.TimeoutSeconds = v);
        // Where a person consents is not where the broker sends secrets: changing it starts no account afresh.
        Set("authorization_url", provider.AuthorizationUrl, Blank(request.AuthorizationUrl), v => provider.AuthorizationUrl = v);
        var parameters = Parameters(request.AuthorizationParameters);
        if (!SameParameters(provider.AuthorizationParameters, parameters))
        {
            provider.AuthorizationParameters = parameters;
            changed.Add("authorization_parameters");
        }
        Set("refresh_reuse_grace_seconds", provider.RefreshReuseGraceSeconds, request.RefreshReuseGraceSeconds, v => provider.RefreshReuseGraceSeconds = v);
        Set("issuer", provider.Issuer, Blank(request.Issuer), v => provider.Issuer = v);
        Set("issuer_required", provider.IssuerRequired, request.IssuerRequired ?? false, v => provider.IssuerRequired = v);
        if (changed.Count == 0) return TypedResults.Ok(ProviderResponse.From(provider));

        // A stored secret goes only where it was entered for: secrets not entered with a new destination are cleared.
        var moved = changed.Where(DestinationSettings.Contains).ToList();
        var cleared = moved.Count > 0 ? provider.DestinationChanged(clientSecretReentered: request.ClientSecret is not null) : [];

        var now = time.GetUtcNow();
        provider.UpdatedAt = now;
        var reset = changed.Any(LoginSettings.Contains) ? accounts : [];
        var lost = new SortedSet<string>(StringComparer.Ordinal);
        var losers = 0;
        foreach (var account in reset)
        {
            var gone = account.ProviderChanged(provider, moved, now);
            if (gone.Count > 0) losers++;
            lost.UnionWith(gone);
        }
        AdminAudit.Record(db, http, time, AuditActions.ProviderUpdated, provider: provider.Name,
            detail: "changed: " + string.Join(", ", changed) +
                    (cleared.Count > 0 ? "; cleared: " + string.Join(", ", cleared) : "") +
                    (losers > 0 ? $"; {losers} account(s) lost {string.Join(", ", lost)}" : "") +
                    (reset.Count > 0 ? $"; {reset.Count} account(s) started afresh" : ""));
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        await caches.AccountsChangedAsync([.. reset.Select(a => a.Name)]);
        return TypedResults.Ok(ProviderResponse.From(provider));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> Delete(
        string name, BrokerDbContext db, CacheInvalidation caches, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var provider = await db.Providers.FirstOrDefaultAsync(p => p.Name == name, ct);
        if (provider is null) return Problems.NotFoundProblem("provider");
        // An account created between this check and the delete makes the delete fail on the foreign key,
        // which the exception handler answers with the same 409.
        var users = await db.Accounts.Where(a => a.ProviderId == provider.Id).OrderBy(a => a.Name).Select(a => a.Name).Take(6).ToListAsync(ct);
        if (users.Count > 0)
            return Problems.Create(StatusCodes.Status409Conflict, Problems.Conflict, "Accounts still use this provider.",
                $"Delete or move these accounts first: {string.Join(", ", users.Take(5))}{(users.Count > 5 ? ", ..." : "")}.");

        db.Providers.Remove(provider);
        AdminAudit.Record(db, http, time, AuditActions.ProviderDeleted, provider: provider.Name);
        await db.SaveChangesAsync(ct);
        await caches.ClientsChangedAsync(); // grants on the provider are gone with it
        return TypedResults.NoContent();
    }

    /// <summary>The provider fields that decide how an account logs in; changing one starts its accounts afresh.</summary>
    private static readonly HashSet<string> LoginSettings =
        ["dialect", "token_url", "refresh_url", "client_id", "client_secret", "client_authentication", "refresh_token_field", "scope"];

    /// <summary>The provider fields that decide where its secrets are sent (and how): docs/providers.md, "Where secrets go".</summary>
    private static readonly HashSet<string> DestinationSettings = ["dialect", "token_url", "refresh_url", "client_authentication"];

    /// <summary>Every field but the name, which create and replace check differently.</summary>
    internal static FieldErrors Validate(ProviderRequest request, string? name, OutboundDestinations destinations)
    {
        var errors = new FieldErrors();
        if (string.IsNullOrEmpty(request.Dialect)) errors.Add("dialect", "is required.");
        else if (!DialectNames.TryParse(request.Dialect, out _))
            errors.Add("dialect", $"must be one of {string.Join(", ", DialectNames.All)}.");
        errors.Url("token_url", request.TokenUrl, required: true);
        errors.Url("refresh_url", request.RefreshUrl, required: false);
        foreach (var (field, url) in new[] { ("token_url", request.TokenUrl), ("refresh_url", request.RefreshUrl) })
        {
            if (!errors.Has(field) && !string.IsNullOrEmpty(url) && destinations.UrlProblem(new Uri(url), name) is { } problem)
                errors.Add(field, problem);
        }
        errors.Length("client_id", request.ClientId, Limits.Identifier);
        errors.Length("client_secret", request.ClientSecret, Limits.Secret);
        errors.Length("refresh_token_field", request.RefreshTokenField, Limits.Name);
        errors.Length("scope", request.Scope, Limits.Scope);
        if (request.ClientAuthentication is not (null or "basic" or "body")) errors.Add("client_authentication", "must be basic or body.");
        errors.Range("default_access_lifetime_seconds", request.DefaultAccessLifetimeSeconds, 1, 31_536_000);
        errors.Range("default_refresh_lifetime_seconds", request.DefaultRefreshLifetimeSeconds, 1, 31_536_000);
        errors.Range("timeout_seconds", request.TimeoutSeconds, 1, 120);
        ValidateAuthorization(request, name, destinations, errors);
        errors.Range("refresh_reuse_grace_seconds", request.RefreshReuseGraceSeconds, 1, 86_400);
        return errors;
    }

    /// <summary>The parameters the broker sets itself on an authorization request: a provider may not override them.</summary>
    private static readonly HashSet<string> ReservedParameters =
        new(["response_type", "client_id", "redirect_uri", "state", "scope", "code_challenge", "code_challenge_method"], StringComparer.OrdinalIgnoreCase);

    internal const int MaxAuthorizationParameters = 20;

    private static void ValidateAuthorization(ProviderRequest request, string? name, OutboundDestinations destinations, FieldErrors errors)
    {
        var authorizationCode = request.Dialect == DialectNames.OAuth2AuthorizationCode;
        errors.Url("authorization_url", request.AuthorizationUrl, required: authorizationCode);
        if (!authorizationCode && !string.IsNullOrEmpty(request.AuthorizationUrl))
            errors.Add("authorization_url", $"is only for the {DialectNames.OAuth2AuthorizationCode} dialect.");
        // A person's browser goes there, with the client id; the same outbound rules keep it from pointing inside.
        if (!errors.Has("authorization_url") && !string.IsNullOrEmpty(request.AuthorizationUrl) &&
            destinations.UrlProblem(new Uri(request.AuthorizationUrl), name) is { } problem)
            errors.Add("authorization_url", problem);

        // RFC 8414: an issuer is a URL without query or fragment; it is compared, never called.
        errors.Url("issuer", request.Issuer, required: request.IssuerRequired == true);
        if (!authorizationCode && (!string.IsNullOrEmpty(request.Issuer) || request.IssuerRequired == true))
            errors.Add("issuer", $"is only for the {DialectNames.OAuth2AuthorizationCode} dialect.");
        else if (!errors.Has("issuer") && !string.IsNullOrEmpty(request.Issuer) && new Uri(request.Issuer) is { Query.Length: > 0 } or { Fragment.Length: > 0 })
            errors.Add("issuer", "must have no query or fragment.");

        if (request.AuthorizationParameters is not { Count: > 0 } parameters) return;
        if (!authorizationCode) errors.Add("authorization_parameters", $"are only for the {DialectNames.OAuth2AuthorizationCode} dialect.");
        if (parameters.Count > MaxAuthorizationParameters) errors.Add("authorization_parameters", $"must be at most {MaxAuthorizationParameters}.");
        foreach (var (key, value) in parameters.Take(MaxAuthorizationParameters + 1))
        {
            if (key.Length is 0 or > Limits.Name || !SafeText.IsClean(key))
                errors.Add("authorization_parameters", $"names must be 1 to {Limits.Name} characters of one-line text.");
            else if (ReservedParameters.Contains(key) || key.StartsWith("code_challenge", StringComparison.OrdinalIgnoreCase))
                errors.Add("authorization_parameters", $"must not set {SafeText.Shorten(key, Limits.Name)}: the broker sets it.");
            if (value is null || value.Length > Limits.Scope || !SafeText.IsClean(value))
                errors.Add("authorization_parameters", $"values must be at most {Limits.Scope} characters of one-line text.");
        }
    }

    private static Dictionary<string, string>? Parameters(Dictionary<string, string>? parameters) =>
        parameters is { Count: > 0 } ? new Dictionary<string, string>(parameters, StringComparer.Ordinal) : null;

    private static bool SameParameters(Dictionary<string, string>? a, Dictionary<string, string>? b) =>
        a is null ? b is null : b is not null && a.Count == b.Count && a.All(p => b.TryGetValue(p.Key, out var v) && v == p.Value);

    internal static string? Blank(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
