using Broker.Api.Auth;
using Broker.Api.Errors;
using Broker.Domain;
using Broker.Infrastructure.Outbound;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Broker.Infrastructure.Webhooks;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Broker.Api.Admin;

public static class WebhooksApi
{
    public const int MinSecretLength = 16;
    public const int MaxPageSize = 200;

    public static RouteGroupBuilder MapWebhooks(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin/webhooks").WithTags("Webhooks").RequireClient(ClientRoles.Admin)
            .WithNameRuleAndAdminProblems();

        group.MapPost("", Create).WithName("CreateWebhook").WithSummary("Create a webhook; a secret the broker made is in this answer only")
            .WithDescription("Events: " + string.Join(", ", WebhookEvents.All) + ". Each delivery is signed with the secret " +
                             "(Broker-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>; docs/webhooks.md). The secret is " +
                             "write-only: give one, or leave it out and store the one in the answer.");
        group.MapGet("", List).WithName("ListWebhooks").WithSummary("List webhooks (never their secrets)");
        group.MapGet("/{id}", Get).WithName("GetWebhook").WithSummary("Get a webhook").ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPatch("/{id}", Patch).WithName("PatchWebhook").WithSummary("Change a webhook's URL, events, secret or description")
            .WithDescription("Fields left out (null) stay as they are. Deliveries not yet made go to the new URL, signed with the new secret.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapDelete("/{id}", Delete).WithName("DeleteWebhook").WithSummary("Delete a webhook and its delivery log")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/{id}/deliveries", Deliveries).WithName("ListWebhookDeliveries")
            .WithSummary("The webhook's deliveries, newest first: event, status, attempts, last answer")
            .WithDescription($"limit: 1 to {MaxPageSize} (default 50); before: the next value of the previous page.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    public static async Task<Results<Created<WebhookResponse>, ValidationProblem>> Create(
        WebhookRequest request, BrokerDbContext db, SecretProtector secrets, OutboundDestinations destinations,
        IOptions<WebhookOptions> options, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var errors = new FieldErrors();
        ValidateUrl(errors, request.Url, required: true, destinations, options.Value);
        var events = ValidateEvents(errors, request.Events, required: true);
        ValidateSecret(errors, request.Secret);
        errors.Length("description", request.Description, Limits.Detail);
        if (errors.Any) return Problems.Validation(errors.ToDictionary());

        var now = time.GetUtcNow();
        var made = request.Secret is null ? WebhookSignature.NewSecret() : null;
        var webhook = new Webhook
        {
            Id = Guid.CreateVersion7(now), Url = request.Url!, SecretEncrypted = secrets.Protect(SecretKind.WebhookSecret, request.Secret ?? made!),
            Events = events!, Description = Blank(request.Description), CreatedAt = now, UpdatedAt = now,
        };
        db.Webhooks.Add(webhook);
        AdminAudit.Record(db, http, time, AuditActions.WebhookCreated, detail: $"{Shown(webhook)}; events: {string.Join(", ", webhook.Events)}");
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/admin/webhooks/{webhook.Id}", WebhookResponse.From(webhook, made));
    }

    public static async Task<Ok<List<WebhookResponse>>> List(BrokerDbContext db, CancellationToken ct) =>
        TypedResults.Ok((await db.Webhooks.AsNoTracking().OrderBy(w => w.Id).ToListAsync(ct)).Select(w => WebhookResponse.From(w)).ToList());

    public static async Task<Results<Ok<WebhookResponse>, ProblemHttpResult>> Get(string id, BrokerDbContext db, CancellationToken ct) =>
        Guid.TryParse(id, out var key) && await db.Webhooks.AsNoTracking().FirstOrDefaultAsync(w => w.Id == key, ct) is { } webhook
            ? TypedResults.Ok(WebhookResponse.From(webhook))
            : Problems.NotFoundProblem("webhook");

    public static async Task<Results<Ok<WebhookResponse>, ValidationProblem, ProblemHttpResult>> Patch(
        string id, WebhookPatch patch, BrokerDbContext db, SecretProtector secrets, OutboundDestinations destinations,
        IOptions<WebhookOptions> options, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var webhook = await FindAsync(db, id, ct);
        if (webhook is null) return Problems.NotFoundProblem("webhook");
        var errors = new FieldErrors();
        ValidateUrl(errors, patch.Url, required: false, destinations, options.Value);
        var events = ValidateEvents(errors, patch.Events, required: false);
        ValidateSecret(errors, patch.Secret);
        errors.Length("description", patch.Description, Limits.Detail);
        if (errors.Any) return Problems.Validation(errors.ToDictionary());

        var changed = new List<string>();
        if (patch.Url is not null && patch.Url != webhook.Url)
        {
            webhook.Url = patch.Url;
            changed.Add("url");
        }
        if (events is not null && !events.SequenceEqual(webhook.Events))
        {
            webhook.Events = events;
            changed.Add("events");
        }
        if (patch.Secret is not null)
        {
            webhook.SecretEncrypted = secrets.Protect(SecretKind.WebhookSecret, patch.Secret);
            changed.Add("secret");
        }
        if (patch.Description is not null && Blank(patch.Description) != webhook.Description)
        {
            webhook.Description = Blank(patch.Description);
            changed.Add("description");
        }
        if (changed.Count == 0) return TypedResults.Ok(WebhookResponse.From(webhook));
        webhook.UpdatedAt = time.GetUtcNow();
        AdminAudit.Record(db, http, time, AuditActions.WebhookUpdated, detail: $"{Shown(webhook)}; changed: {string.Join(", ", changed)}");
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(WebhookResponse.From(webhook));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> Delete(
        string id, BrokerDbContext db, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var webhook = await FindAsync(db, id, ct);
        if (webhook is null) return Problems.NotFoundProblem("webhook");
        db.Webhooks.Remove(webhook);
        AdminAudit.Record(db, http, time, AuditActions.WebhookDeleted, detail: Shown(webhook));
        await db.SaveChangesAsync(ct);
        return TypedResults.NoContent();
    }

    public static async Task<Results<Ok<WebhookDeliveryPage>, ValidationProblem, ProblemHttpResult>> Deliveries(
        string id, BrokerDbContext db, CancellationToken ct, int? limit = null, Guid? before = null)
    {
        var size = limit ?? 50;
        if (size is < 1 or > MaxPageSize) return Problems.Validation("limit", $"must be from 1 to {MaxPageSize}.");
        if (!Guid.TryParse(id, out var key) || !await db.Webhooks.AnyAsync(w => w.Id == key, ct)) return Problems.NotFoundProblem("webhook");
        // Ids are UUIDv7 made from the event's time, so their order is the log's (newest first) and a keyset.
        var query = db.WebhookDeliveries.AsNoTracking().Where(d => d.WebhookId == key);
        if (before is { } cursor) query = query.Where(d => d.Id < cursor);
        var items = await query.OrderByDescending(d => d.Id).Take(size).ToListAsync(ct);
        return TypedResults.Ok(new WebhookDeliveryPage(items.Select(WebhookDeliveryItem.From).ToList(),
            items.Count == size ? items[^1].Id : null));
    }

    /// <summary>The webhook of a route id; an id that is not a UUID is simply unknown (after authorization, like any unknown name).</summary>
    private static async Task<Webhook?> FindAsync(BrokerDbContext db, string id, CancellationToken ct) =>
        Guid.TryParse(id, out var key) ? await db.Webhooks.FirstOrDefaultAsync(w => w.Id == key, ct) : null;

    private static void ValidateUrl(FieldErrors errors, string? url, bool required, OutboundDestinations destinations, WebhookOptions options)
    {
        errors.Url("url", url, required);
        if (errors.Has("url") || string.IsNullOrEmpty(url)) return;
        var uri = new Uri(url);
        if (uri.Scheme == Uri.UriSchemeHttp && !options.AllowPlainHttp)
            errors.Add("url", "must be https: plain http is allowed only when Broker:Webhooks:AllowPlainHttp is true.");
        else if (destinations.AddressProblem(uri) is { } problem)
            errors.Add("url", problem);
    }

    /// <summary>The events, each once, in the order given; every unknown name is an error that lists the known ones.</summary>
    private static List<string>? ValidateEvents(FieldErrors errors, List<string>? events, bool required)
    {
        if (events is null)
        {
            if (required) errors.Add("events", $"is required: one or more of {string.Join(", ", WebhookEvents.All)}.");
            return null;
        }
        if (events.Count == 0) errors.Add("events", $"must name one or more of {string.Join(", ", WebhookEvents.All)}.");
        foreach (var unknown in events.Where(e => !WebhookEvents.All.Contains(e)).Distinct())
            errors.Add("events", $"'{SafeText.Shorten(unknown, Limits.Name)}' is not an event; the events are {string.Join(", ", WebhookEvents.All)}.");
        return events.Distinct().ToList();
    }

    private static void ValidateSecret(FieldErrors errors, string? secret)
    {
        if (secret is null) return;
        if (secret.Length < MinSecretLength) errors.Add("secret", $"must be at least {MinSecretLength} characters.");
        else errors.Length("secret", secret, Limits.Secret);
    }

    /// <summary>The webhook as the audit trail names it: its id and host. Never the whole URL, whose path may be a secret itself.</summary>
    private static string Shown(Webhook webhook) =>
        $"webhook {webhook.Id} ({(Uri.TryCreate(webhook.Url, UriKind.Absolute, out var uri) ? uri.IdnHost : "?")})";

    private static string? Blank(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
