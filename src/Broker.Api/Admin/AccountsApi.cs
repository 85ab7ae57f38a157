using Broker.Api.Auth;
using Broker.Api.Errors;
using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Broker.Infrastructure.Tokens;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace Broker.Api.Admin;

public static class AccountsApi
{
    private const string SecretsRule = "password and client_secret are write-only: leave one out (null) to keep the stored value, \"\" to remove it. " +
                                       "A stored secret is sent only to the provider it was entered for: moving the account to another provider " +
                                       "clears the password and client_secret not re-entered in the same request, and the account then needs " +
                                       "attention (last_error says why) until an admin enters them (docs/providers.md, \"Where secrets go\").";

    public static RouteGroupBuilder MapAccounts(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin/accounts").WithTags("Accounts").RequireClient(ClientRoles.Admin)
            .WithNameRuleAndAdminProblems();

        group.MapPost("", Create).WithName("CreateAccount").WithSummary("Create an account")
            .WithDescription("oauth2-client-credentials needs client_id and client_secret (on the account or its provider). The " +
                             "dialects that refresh need only what their refresh sends (client_id for oauth2-password); what they " +
                             "log in with (username and password, org_name for sliderule) may be left out: the account is then " +
                             "refresh-only (can_log_in false) and lives on a refresh token imported with PUT " +
                             "/admin/accounts/{name}/refresh-token. Secrets are write-only.")
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("", List).WithName("ListAccounts").WithSummary("List accounts with their state and token expiry");
        group.MapGet("/{name}", Get).WithName("GetAccount").WithSummary("Get an account, its state and last error").ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{name}", Replace).WithName("ReplaceAccount").WithSummary("Replace an account's provider and credentials")
            .WithDescription("Every field is set as given; name may be left out but not changed. " + SecretsRule +
                             " Any change starts the account afresh: its stored tokens are dropped and needs_attention is cleared.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPatch("/{name}", Patch).WithName("PatchAccount").WithSummary("Change some of an account's fields; new credentials clear needs_attention")
            .WithDescription("Fields left out (null) stay as they are; \"\" removes an optional field. " + SecretsRule +
                             " Any change starts the account afresh: its stored tokens are dropped and needs_attention is cleared.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapDelete("/{name}", Delete).WithName("DeleteAccount").WithSummary("Delete an account and its grants").ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/{name}/test", Test).WithName("TestAccount").WithSummary("Log in upstream now and report the outcome")
            .WithDescription("Logs in through the same row lock as a token fetch and stores the new token set (a refresh-only " +
                             "account, can_log_in false, refreshes instead). An account that " +
                             "needs attention or is inactive is tried again: the test is the admin's say-so. The answer is 200 " +
                             "whatever the upstream said; logged_in, failure and last_error tell the outcome. An account lacking a " +
                             "credential its dialect needs (secrets cleared by a change of destination) is not tried: nothing is sent.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/{name}/revoke", Revoke).WithName("RevokeAccountTokens").WithSummary("Drop the account's stored tokens")
            .WithDescription("The next fetch logs in again. Other broker instances are told to forget the dropped token at once " +
                             "(should that notification be lost, within Broker:Tokens:MemoryCacheMaxAge, 30 s by default); the upstream is not told.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{name}/refresh-token", ImportRefreshToken).WithName("ImportRefreshToken")
            .WithSummary("Store a refresh token obtained elsewhere; the next fetch refreshes with it")
            .WithDescription("For accounts whose dialect refreshes (400 otherwise). The token is write-only: never returned, logged " +
                             "or audited. The stored access token is dropped, so the next fetch refreshes with this token, and the " +
                             "account becomes active. This is how a refresh-only account (can_log_in false) is connected, and " +
                             "reconnected after attention_reason reconnect_required.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    public static async Task<Results<Ok<AccountResponse>, ValidationProblem, ProblemHttpResult>> ImportRefreshToken(
        string name, RefreshTokenImport request, BrokerDbContext db, SecretProtector secrets, CacheInvalidation caches,
        TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var errors = new FieldErrors();
        if (string.IsNullOrEmpty(request.RefreshToken)) errors.Add("refresh_token", "is required.");
        // Never quotes the value: it is a secret.
        else if (!TokenText.IsValid(request.RefreshToken))
            errors.Add("refresh_token", $"is not a token (RFC 6749: printable ASCII, at most {TokenText.MaxLength} characters).");
        var now = time.GetUtcNow();
        if (request.RefreshExpiresAt is { } expires && expires <= now) errors.Add("refresh_expires_at", "is in the past.");

        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var account = await AccountLocks.LockAccountAsync(db, name, ct);
        if (account is null) return Problems.NotFoundProblem("account");
        var provider = account.Provider!;
        if (!provider.Dialect.CanRefresh())
            errors.Add("refresh_token", $"the {provider.Dialect.ToName()} dialect has no refresh: its accounts cannot use a refresh token.");
        if (errors.Any) return Problems.Validation(errors.ToDictionary());

        var refreshExpiresAt = request.RefreshExpiresAt ??
                               (provider.DefaultRefreshLifetimeSeconds is { } seconds ? now.AddSeconds(seconds) : null);
        account.RefreshTokenImported(secrets.Protect(SecretKind.RefreshToken, request.RefreshToken!), refreshExpiresAt, now);
        // A refresh begun with the previous token is history: its record must not speak for the new one.
        await RefreshAttempts.EndAsync(db, account.Id, ct);
        AdminAudit.Record(db, http, time, AuditActions.AccountRefreshTokenImported, account.Name, account.Id, provider.Name);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        await caches.AccountChangedAsync(name); // every instance must stop serving the access token of the old chain
        return TypedResults.Ok(AccountResponse.From(account, provider));
    }

    public static async Task<Results<Created<AccountResponse>, ValidationProblem, ProblemHttpResult>> Create(
        AccountRequest request, BrokerDbContext db, SecretProtector secrets, CacheInvalidation caches, TimeProvider time,
        HttpContext http, CancellationToken ct)
    {
        // Only a name the broker could have created is looked up: anything else is simply unknown.
        var provider = !FieldErrors.IsName(request.Provider) ? null
            : await db.Providers.AsNoTracking().FirstOrDefaultAsync(p => p.Name == request.Provider, ct);
        var errors = Validate(request, provider, existing: null);
        errors.Name("name", request.Name);
        if (errors.Any) return Problems.Validation(errors.ToDictionary());
        if (await db.Accounts.AnyAsync(a => a.Name == request.Name, ct))
            return Problems.Create(StatusCodes.Status409Conflict, Problems.Conflict, $"An account named '{request.Name}' exists already.");

        var now = time.GetUtcNow();
        var account = new Account
        {
            Id = Guid.CreateVersion7(), Name = request.Name!, ProviderId = provider!.Id,
            Username = Blank(request.Username), PasswordEncrypted = secrets.ProtectOrNull(SecretKind.Password, Blank(request.Password)),
            OrgName = Blank(request.OrgName), ClientId = Blank(request.ClientId),
            ClientSecretEncrypted = secrets.ProtectOrNull(SecretKind.ClientSecret, Blank(request.ClientSecret)),
            Scope = Blank(request.Scope), CreatedAt = now, UpdatedAt = now,
        };
        db.Accounts.Add(account);
        AdminAudit.Record(db, http, time, AuditActions.AccountCreated, account.Name, account.Id, provider.Name);
        await db.SaveChangesAsync(ct);
        await caches.AccountProviderChangedAsync(account.Name); // provider-wide grants now include this account
        return TypedResults.Created($"/admin/accounts/{account.Name}", AccountResponse.From(account, provider));
    }

    public static async Task<Ok<List<AccountResponse>>> List(BrokerDbContext db, CancellationToken ct) =>
        TypedResults.Ok((await db.Accounts.AsNoTracking().Include(a => a.Provider).OrderBy(a => a.Name).ToListAsync(ct))
            .Select(a => AccountResponse.From(a, a.Provider!)).ToList());

    public static async Task<Results<Ok<AccountResponse>, ProblemHttpResult>> Get(string name, BrokerDbContext db, CancellationToken ct) =>
        await db.Accounts.AsNoTracking().Include(a => a.Provider).FirstOrDefaultAsync(a => a.Name == name, ct) is { } account
            ? TypedResults.Ok(AccountResponse.From(account, account.Provider!))
            : Problems.NotFoundProblem("account");

    public static async Task<Results<Ok<AccountResponse>, ValidationProblem, ProblemHttpResult>> Replace(
        string name, AccountRequest request, BrokerDbContext db, SecretProtector secrets, CacheInvalidation caches,
        TimeProvider time, HttpContext http, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var account = await AccountLocks.LockAccountAsync(db, name, ct);
        if (account is null) return Problems.NotFoundProblem("account");
        var provider = !FieldErrors.IsName(request.Provider) ? null : await db.Providers.FirstOrDefaultAsync(p => p.Name == request.Provider, ct);
        var errors = Validate(request, provider, account);
        if (request.Name is not null && request.Name != name) errors.Add("name", "must be the name in the URL: accounts cannot be renamed.");
        if (errors.Any) return Problems.Validation(errors.ToDictionary());
        return await UpdateAsync(db, tx, account, provider!, request, secrets, caches, time, http, ct);
    }

    public static async Task<Results<Ok<AccountResponse>, ValidationProblem, ProblemHttpResult>> Patch(
        string name, AccountPatch patch, BrokerDbContext db, SecretProtector secrets, CacheInvalidation caches,
        TimeProvider time, HttpContext http, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var account = await AccountLocks.LockAccountAsync(db, name, ct);
        if (account is null) return Problems.NotFoundProblem("account");
        var provider = patch.Provider is null ? account.Provider
            : !FieldErrors.IsName(patch.Provider) ? null
            : await db.Providers.FirstOrDefaultAsync(p => p.Name == patch.Provider, ct);

        // The account as it would be after the patch, checked and applied exactly like a PUT of it.
        var desired = new AccountRequest(name, patch.Provider ?? account.Provider!.Name,
            patch.Username ?? account.Username, patch.Password, patch.OrgName ?? account.OrgName,
            patch.ClientId ?? account.ClientId, patch.ClientSecret, patch.Scope ?? account.Scope);
        var errors = Validate(desired, provider, account);
        if (errors.Any) return Problems.Validation(errors.ToDictionary());
        return await UpdateAsync(db, tx, account, provider!, desired, secrets, caches, time, http, ct);
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> Delete(
        string name, BrokerDbContext db, CacheInvalidation caches, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var account = await AccountLocks.LockAccountAsync(db, name, ct);
        if (account is null) return Problems.NotFoundProblem("account");
        db.Accounts.Remove(account);
        await RefreshAttempts.EndAsync(db, account.Id, ct);
        AdminAudit.Record(db, http, time, AuditActions.AccountDeleted, account.Name, account.Id, account.Provider!.Name);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        await caches.AccountChangedAsync(name, grantsChanged: true); // grants on the account are gone with it
        return TypedResults.NoContent();
    }

    public static async Task<Results<Ok<AccountTestResponse>, ProblemHttpResult>> Test(
        string name, BrokerDbContext db, TokenIssuer issuer, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            var account = await AccountLocks.LockAccountAsync(db, name, ct);
            if (account is null) return Problems.NotFoundProblem("account");
            // Never for an account whose secrets were cleared: it stays blocked, and the issuer answers without a call.
            if (account.State != AccountState.Active && !CredentialRules.Missing(account, account.Provider!).Any())
            {
                account.ReactivateForTest(time.GetUtcNow());
                AdminAudit.Record(db, http, time, AuditActions.AccountUpdated, account.Name, account.Id, account.Provider!.Name,
                    "changed: state (reactivated for a test)");
                await db.SaveChangesAsync(ct);
            }
            await tx.CommitAsync(ct);
        }

        var caller = http.Caller();
        var result = await issuer.RenewAsync(name, caller, ct);
        var after = await db.Accounts.AsNoTracking().Include(a => a.Provider).FirstOrDefaultAsync(a => a.Name == name, ct);
        if (result is TokenResult.NotFound || after is null) return Problems.NotFoundProblem("account");

        // A failed login can still leave a served token (an unexpired one the issuer falls back on), so the
        // account's last_error, which a login clears and a failure sets, is what tells the outcome.
        var loggedIn = result is TokenResult.Served && after.LastError is null;
        var failure = result switch
        {
            TokenResult.Failed failed => failed.Failure.ToName(),
            _ when !loggedIn => "login_failed",
            _ => null,
        };
        AdminAudit.Record(db, http, time, AuditActions.AccountTested, after.Name, after.Id, after.Provider!.Name, outcome: failure ?? "ok");
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(new AccountTestResponse(after.Name, loggedIn, failure, after.State.ToName(), after.LastError,
            after.AccessTokenEncrypted is null ? null : after.AccessExpiresAt,
            after.RefreshTokenEncrypted is null ? null : after.RefreshExpiresAt));
    }

    public static async Task<Results<Ok<AccountResponse>, ProblemHttpResult>> Revoke(
        string name, BrokerDbContext db, CacheInvalidation caches, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var account = await AccountLocks.LockAccountAsync(db, name, ct);
        if (account is null) return Problems.NotFoundProblem("account");
        account.Revoke(time.GetUtcNow());
        AdminAudit.Record(db, http, time, AuditActions.AccountRevoked, account.Name, account.Id, account.Provider!.Name);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        await caches.AccountChangedAsync(name);
        return TypedResults.Ok(AccountResponse.From(account, account.Provider));
    }

    /// <summary>
    /// Applies a validated PUT (or a PATCH turned into one) to the locked account, in the transaction that holds
    /// the lock, so a login running on the old credentials cannot store its tokens after the change.
    /// </summary>
    private static async Task<Results<Ok<AccountResponse>, ValidationProblem, ProblemHttpResult>> UpdateAsync(
        BrokerDbContext db, IDbContextTransaction tx, Account account, Provider provider, AccountRequest desired, SecretProtector secrets,
        CacheInvalidation caches, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var changed = new List<string>();
        var cleared = new List<string>();
        var movedFrom = account.Provider?.Name;
        if (account.ProviderId != provider.Id)
        {
            changed.Add("provider");
            cleared = account.MoveTo(provider, passwordReentered: desired.Password is not null, clientSecretReentered: desired.ClientSecret is not null);
        }
        void Set(string field, string? current, string? next, Action<string?> apply)
        {
            if (current == Blank(next)) return;
            apply(Blank(next));
            changed.Add(field);
        }
        Set("username", account.Username, desired.Username, v => account.Username = v);
        Set("org_name", account.OrgName, desired.OrgName, v => account.OrgName = v);
        Set("client_id", account.ClientId, desired.ClientId, v => account.ClientId = v);
        Set("scope", account.Scope, desired.Scope, v => account.Scope = v);
        if (desired.Password is not null && (desired.Password != "" || account.PasswordEncrypted is not null))
        {
            account.PasswordEncrypted = secrets.ProtectOrNull(SecretKind.Password, Blank(desired.Password));
            changed.Add("password");
        }
        if (desired.ClientSecret is not null && (desired.ClientSecret != "" || account.ClientSecretEncrypted is not null))
        {
            account.ClientSecretEncrypted = secrets.ProtectOrNull(SecretKind.ClientSecret, Blank(desired.ClientSecret));
            changed.Add("client_secret");
        }
        if (changed.Count == 0) return TypedResults.Ok(AccountResponse.From(account, provider));

        account.SettingsChanged(provider, changed.Contains("provider") ? movedFrom : null, cleared, time.GetUtcNow());
        AdminAudit.Record(db, http, time, AuditActions.AccountUpdated, account.Name, account.Id, provider.Name,
            "changed: " + string.Join(", ", changed) + (cleared.Count > 0 ? "; cleared: " + string.Join(", ", cleared) : ""));
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        // A new provider means provider-wide grants cover the account differently.
        if (changed.Contains("provider")) await caches.AccountProviderChangedAsync(account.Name);
        else await caches.AccountChangedAsync(account.Name);
        return TypedResults.Ok(AccountResponse.From(account, provider));
    }

    /// <summary>
    /// Checks every field but the name (create and replace check it differently), and that the account will have
    /// the credentials its provider's dialect needs (<see cref="CredentialRules.Required"/>; all it logs in with, when
    /// it could log in before the change); <paramref name="existing"/> holds the stored secrets.
    /// </summary>
    internal static FieldErrors Validate(AccountRequest request, Provider? provider, Account? existing)
    {
        var errors = new FieldErrors();
        if (string.IsNullOrEmpty(request.Provider)) errors.Add("provider", "is required.");
        else if (provider is null) errors.Add("provider", $"no provider is named '{request.Provider}'.");
        errors.Length("username", request.Username, Limits.Identifier);
        errors.Length("password", request.Password, Limits.Secret);
        errors.Length("org_name", request.OrgName, Limits.Identifier);
        errors.Length("client_id", request.ClientId, Limits.Identifier);
        errors.Length("client_secret", request.ClientSecret, Limits.Secret);
        errors.Length("scope", request.Scope, Limits.Scope);
        if (provider is null) return errors;

        var present = new CredentialPresence(
            !string.IsNullOrEmpty(request.Username),
            CredentialRules.SecretAfterWrite(request.Password, existing?.PasswordEncrypted is not null),
            !string.IsNullOrEmpty(request.OrgName),
            !string.IsNullOrEmpty(request.ClientId) || !string.IsNullOrEmpty(provider.ClientId),
            CredentialRules.SecretAfterWrite(request.ClientSecret, existing?.ClientSecretEncrypted is not null) || provider.ClientSecretEncrypted is not null);
        var dialect = provider.Dialect.ToName();
        // A new account may be refresh-only; a change may not take away what an account that can log in logs in with.
        var mustLogIn = existing?.Provider is { } before && CredentialRules.CanLogIn(existing, before);
        var entered = new CredentialPresence(!string.IsNullOrEmpty(request.Username), !string.IsNullOrEmpty(request.Password),
            !string.IsNullOrEmpty(request.OrgName), false, false);
        foreach (var missing in mustLogIn ? CredentialRules.Missing(provider.Dialect, present) : CredentialRules.RequiredOnWrite(provider.Dialect, present, entered))
            errors.Add(missing, missing is "client_id" or "client_secret"
                ? $"is required for the {dialect} dialect (on the account or its provider)."
                : $"is required for the {dialect} dialect.");
        return errors;
    }

    private static string? Blank(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
