using System.Globalization;
using Broker.Api.Admin;
using Broker.Api.Auth;
using Broker.Api.Errors;
using Broker.Api.OpenApi;
using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Persistence;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Broker.Api.Audit;

/// <summary>The audit trail for admins: filtered, newest first, keyset-paged; and the HMAC that stands for a token.</summary>
public static class AuditApi
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;

    private static readonly string[] Parameters = ["from", "to", "client", "identity", "account", "action", "token_hmac", "limit", "cursor"];

    public static RouteGroupBuilder MapAuditTrail(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin/audit").WithTags(SwaggerSetup.AuditTag).RequireClient(ClientRoles.Admin)
            .WithNameRuleAndAdminProblems();

        group.MapGet("", List).WithName("ListAuditEvents")
            .WithSummary("List audit events, newest first")
            .WithDescription("Filters: from and to (ISO 8601, [from, to), at most Broker:Audit:MaxReportSpan apart; from defaults to that " +
                             "span before to, to to no upper bound), client, identity (exact, e.g. key:brk_3f9a1c2d or " +
                             "jwt:<issuer> <subject>), account, action (an action name, e.g. token.served), token_hmac. Unknown " +
                             "parameters and action names are refused (400). limit is 1 to 1000 (default 100). " +
                             "Follow next_cursor (pass it as cursor with the same filters) until it is null.")
            .Produces<AuditPage>()
            .ProducesProblem(StatusCodes.Status400BadRequest);

        group.MapPost("/token-hmac", TokenHmac).WithName("ComputeTokenHmac")
            .WithSummary("Compute the keyed hash that stands for an access token in the audit trail")
            .WithDescription("Send {\"access_token\": ...}; search the trail with GET /admin/audit?token_hmac=... to see who was served it. " +
                             "The token is neither stored nor logged.")
            .Produces<TokenHmacResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return group;
    }

    public static async Task<Results<Ok<AuditPage>, ValidationProblem>> List(
        string? from, string? to, string? client, string? identity, string? account, string? action,
        [Microsoft.AspNetCore.Mvc.FromQuery(Name = "token_hmac")] string? tokenHmac,
        string? limit, string? cursor,
        HttpContext http, BrokerDbContext db, TimeProvider time, IOptions<AuditOptions> options, CancellationToken ct)
    {
        var errors = new FieldErrors();
        QueryParameters.Known(http.Request, Parameters, errors);
        var range = TimeRange.Parse(from, to, fromRequired: false, time.GetUtcNow(), options.Value.MaxReportSpan, errors);
        var size = DefaultLimit;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out size) || size is < 1 or > MaxLimit))
            errors.Add("limit", $"must be a whole number from 1 to {MaxLimit}.");
        AuditCursor? position = null;
        if (cursor is not null)
        {
            if (AuditCursor.TryDecode(cursor, out var decoded)) position = decoded;
            else errors.Add("cursor", "is not a cursor this API gave out; start again without it.");
        }
        errors.Length("client", client, Limits.Name);
        errors.Length("identity", identity, Limits.Identity);
        errors.Length("account", account, Limits.Name);
        QueryParameters.Action(action, AuditActions.All, errors);
        if (tokenHmac is not null && (tokenHmac.Length != 64 || !tokenHmac.All(char.IsAsciiHexDigitLower)))
            errors.Add("token_hmac", "must be 64 lowercase hex digits (POST /admin/audit/token-hmac computes it).");
        if (errors.Any || range is not { } r) return Problems.Validation(errors.ToDictionary());

        var query = db.AuditEvents.AsNoTracking().Where(e => e.At >= r.From);
        if (to is not null) query = query.Where(e => e.At < r.To); // without to, events arriving now are included
        if (client is not null) query = query.Where(e => e.ClientName == client);
        if (identity is not null) query = query.Where(e => e.Identity == identity);
        if (account is not null) query = query.Where(e => e.AccountName == account);
        if (action is not null) query = query.Where(e => e.Action == action);
        if (tokenHmac is not null) query = query.Where(e => e.TokenHmac == tokenHmac);
        if (position is { } p)
            query = query.Where(e => EF.Functions.LessThan(ValueTuple.Create(e.At, e.Id), ValueTuple.Create(p.At, p.Id)));

        var rows = await query.OrderByDescending(e => e.At).ThenByDescending(e => e.Id).Take(size + 1).ToListAsync(ct);
        var more = rows.Count > size;
        if (more) rows.RemoveAt(size);
        var next = more ? new AuditCursor(rows[^1].At, rows[^1].Id).Encode() : null;
        return TypedResults.Ok(new AuditPage(rows.Select(AuditItem.From).ToList(), next));
    }

    public static Results<Ok<TokenHmacResponse>, ValidationProblem> TokenHmac(TokenHmacRequest request, AuditHasher hasher)
    {
        if (string.IsNullOrEmpty(request.AccessToken)) return Problems.Validation("access_token", "is required.");
        if (request.AccessToken.Length > Limits.Secret) return Problems.Validation("access_token", $"must be at most {Limits.Secret} characters.");
        return TypedResults.Ok(new TokenHmacResponse(hasher.Hash(request.AccessToken)));
    }
}
