using System.Globalization;
using System.Text;
using Broker.Api.Admin;
using Broker.Api.Auth;
using Broker.Api.Errors;
using Broker.Api.OpenApi;
using Broker.Domain;
using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Persistence;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Broker.Api.Audit;

/// <summary>
/// Usage over a time range, grouped by any of client, account, provider, day or hour, filtered by client, account,
/// provider or action; as JSON, CSV, or an SVG chart over time.
/// </summary>
public static class ReportsApi
{
    // The grouping expressions are chosen from this table, never taken from the request.
    private static readonly Dictionary<string, string> GroupKeys = new(StringComparer.Ordinal)
    {
        ["client"] = "client_name",
        ["identity"] = "identity",
        ["account"] = "account_name",
        ["provider"] = "provider_name",
        ["day"] = "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        ["hour"] = "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24\":00Z\"')",
    };

    private static readonly string[] Parameters = ["from", "to", "group_by", "client", "account", "provider", "action", "format"];
    private static readonly string[] Formats = ["json", "csv", "svg"];

    /// <summary>The actions the report counts, and so the ones its action filter may name.</summary>
    public static readonly IReadOnlyList<string> CountedActions =
        [AuditActions.TokenServed, AuditActions.TokenObtained, AuditActions.TokenRefreshed, .. AuditActions.CallerFailures];

    public static RouteGroupBuilder MapReports(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin/reports").WithTags(SwaggerSetup.AuditTag).RequireClient(ClientRoles.Admin)
            .WithNameRuleAndAdminProblems();

        group.MapGet("/usage", Usage).WithName("GetUsageReport")
            .WithSummary("Which service used which account how often: tokens served, upstream logins, refreshes and failures")
            .WithDescription("from and to are required (ISO 8601, [from, to), at most Broker:Audit:MaxReportSpan apart). group_by is a " +
                             "comma-separated list of client, identity (how the client authenticated: key:<prefix>, jwt:<issuer> <subject>, " +
                             "cert:<thumbprint>), account, provider, day, hour (UTC), e.g. client,account; each row has one entry per key in keys. Filters: client, account, provider, action (one of the counted actions). Logins and " +
                             "refreshes count every upstream call, whatever its outcome; failures count the failed requests consumers were " +
                             "shown (token.failed, auth.failed, auth.forbidden, request.rate_limited, request.failed), not admins' own. " +
                             "JSON by default; CSV with Accept: text/csv or format=csv; format=svg draws served, refreshes and failures " +
                             "per hour (per day over more than 3 days) and needs no group_by. Unknown parameters are refused.")
            .Produces<UsageReport>(StatusCodes.Status200OK, "application/json", "text/csv", "image/svg+xml")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return group;
    }

    public static async Task<Results<Ok<UsageReport>, ContentHttpResult, ValidationProblem>> Usage(
        string? from, string? to, [Microsoft.AspNetCore.Mvc.FromQuery(Name = "group_by")] string? groupBy,
        string? client, string? account, string? provider, string? action, string? format,
        HttpContext http, NpgsqlDataSource dataSource, TimeProvider time, IOptions<AuditOptions> options, CancellationToken ct)
    {
        var errors = new FieldErrors();
        QueryParameters.Known(http.Request, Parameters, errors);
        if (to is null) errors.Add("to", "is required (an ISO 8601 time, e.g. 2026-02-01T00:00:00Z).");
        var range = TimeRange.Parse(from, to, fromRequired: true, time.GetUtcNow(), options.Value.MaxReportSpan, errors);
        if (format is not null && !Formats.Contains(format, StringComparer.Ordinal)) errors.Add("format", $"must be one of {string.Join(", ", Formats)}.");
        var svg = format == "svg";
        var keys = ParseGroupBy(groupBy, required: !svg, errors);
        errors.Length("client", client, Limits.Name);
        errors.Length("account", account, Limits.Name);
        errors.Length("provider", provider, Limits.Name);
        QueryParameters.Action(action, CountedActions, errors);
        if (errors.Any || range is not { } r) return Problems.Validation(errors.ToDictionary());

        var filters = new UsageFilters(client, account, provider, action);
        if (svg)
        {
            var perHour = r.To - r.From <= UsageChart.LongestHourly;
            var series = await QueryAsync(dataSource, new UsageQuery(r, [perHour ? "hour" : "day"], filters), ct);
            return TypedResults.Text(UsageChart.Draw(r, perHour, filters, series), "image/svg+xml; charset=utf-8");
        }

        var rows = await QueryAsync(dataSource, new UsageQuery(r, keys, filters), ct);
        var report = new UsageReport(r.From, r.To, keys, filters, rows);
        return format == "csv" || (format is null && WantsCsv(http.Request))
            ? TypedResults.Text(UsageCsv.Write(report), "text/csv; charset=utf-8")
            : TypedResults.Ok(report);
    }

    private static List<string> ParseGroupBy(string? groupBy, bool required, FieldErrors errors)
    {
        var valid = $"a comma-separated list of {string.Join(", ", GroupKeys.Keys)} (e.g. client,account)";
        if (groupBy is null)
        {
            if (required) errors.Add("group_by", $"is required: {valid}.");
            return [];
        }
        var keys = groupBy.Split(',', StringSplitOptions.TrimEntries).ToList();
        if (keys.Any(k => !GroupKeys.ContainsKey(k))) errors.Add("group_by", $"must be {valid}.");
        else if (keys.Distinct(StringComparer.Ordinal).Count() != keys.Count) errors.Add("group_by", "names a key twice.");
        else if (keys.Contains("day") && keys.Contains("hour")) errors.Add("group_by", "may have day or hour, not both.");
        return keys;
    }

    private static async Task<List<UsageRow>> QueryAsync(NpgsqlDataSource dataSource, UsageQuery query, CancellationToken ct)
    {
        await using var command = UsageCommand(dataSource, query);
        var rows = new List<UsageRow>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        var n = query.GroupBy.Count;
        while (await reader.ReadAsync(ct))
        {
            var keys = new Dictionary<string, string?>(StringComparer.Ordinal);
            for (var i = 0; i < n; i++) keys[query.GroupBy[i]] = reader.IsDBNull(i) ? null : reader.GetString(i);
            rows.Add(new UsageRow(keys, reader.GetInt64(n), reader.GetInt64(n + 1), reader.GetInt64(n + 2), reader.GetInt64(n + 3)));
        }
        return rows;
    }

    /// <summary>
    /// The report's query: sums the rows' counts (a served-token rollup or a minute of refusals stands for many
    /// events), read from ix_audit_events_at alone, which covers every column it reads (a test checks the plan);
    /// grouping by identity reads the rows too (the column is not in that index: adding it would rebuild the index of
    /// the largest table during a migration).
    /// Failures of admin clients (their own invalid report requests, say) are left out: the report is about
    /// consumers. Only keys of the validated set and numbered parameters go into the SQL.
    /// </summary>
    public static NpgsqlCommand UsageCommand(NpgsqlDataSource dataSource, UsageQuery query)
    {
        var command = dataSource.CreateCommand();
        string P(object value)
        {
            command.Parameters.Add(new() { Value = value });
            return "$" + command.Parameters.Count.ToString(CultureInfo.InvariantCulture);
        }

        var where = new StringBuilder($"at >= {P(query.Range.From)} AND at < {P(query.Range.To)}");
        if (query.Filters.Client is { } c) where.Append($" AND client_name = {P(c)}");
        if (query.Filters.Account is { } a) where.Append($" AND account_name = {P(a)}");
        if (query.Filters.Provider is { } p) where.Append($" AND provider_name = {P(p)}");
        if (query.Filters.Action is { } action) where.Append($" AND action = {P(action)}");
        string[] failures = [.. AuditActions.CallerFailures];
        var keys = string.Join(", ", query.GroupBy.Select(k => GroupKeys[k]));
        var positions = string.Join(", ", Enumerable.Range(1, query.GroupBy.Count));

        command.CommandText = $"""
            SELECT {keys}{(keys.Length > 0 ? "," : "")}
                   coalesce(sum(n) FILTER (WHERE action = {P(AuditActions.TokenServed)}), 0)::bigint AS served,
                   coalesce(sum(n) FILTER (WHERE action = {P(AuditActions.TokenObtained)}), 0)::bigint AS logins,
                   coalesce(sum(n) FILTER (WHERE action = {P(AuditActions.TokenRefreshed)}), 0)::bigint AS refreshes,
                   coalesce(sum(n) FILTER (WHERE action = ANY({P(failures)})), 0)::bigint AS failures
            FROM (
                SELECT at, action, client_name, account_name, provider_name,{(query.GroupBy.Contains("identity") ? " identity," : "")} count::bigint AS n
                FROM audit_events WHERE {where} AND action = ANY({P(CountedActions.ToArray())})
            ) e
            WHERE NOT (action = ANY({P(failures)}) AND EXISTS (SELECT 1 FROM clients WHERE clients.role = 'admin' AND clients.name = e.client_name))
            {(keys.Length > 0 ? $"GROUP BY {positions} ORDER BY {string.Join(", ", Enumerable.Range(1, query.GroupBy.Count).Select(i => $"{i} NULLS LAST"))}" : "")}
            """;
        return command;
    }

    /// <summary>CSV when the caller lists text/csv and does not prefer JSON over it.</summary>
    private static bool WantsCsv(HttpRequest request)
    {
        var accept = request.GetTypedHeaders().Accept;
        var csv = accept.FirstOrDefault(a => a.MediaType.Equals("text/csv", StringComparison.OrdinalIgnoreCase));
        if (csv is null || csv.Quality == 0) return false;
        var json = accept.FirstOrDefault(a => a.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase));
        return json is null || (json.Quality ?? 1) <= (csv.Quality ?? 1);
    }
}

/// <summary>What one usage report selects and how it groups; <c>GroupBy</c> holds validated keys only.</summary>
public sealed record UsageQuery(TimeRange Range, IReadOnlyList<string> GroupBy, UsageFilters Filters);
