using Broker.Api.Admin;
using Broker.Api.Auth;
using Broker.Api.Infrastructure;
using Broker.Domain;
using Broker.Infrastructure.Audit;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Npgsql;

namespace Broker.Api.Audit;

/// <summary>Usage over a time range, grouped by client, account, provider or day, as JSON or CSV.</summary>
public static class ReportsApi
{
    // The grouping expressions are chosen from this table, never taken from the request.
    private static readonly Dictionary<string, string> GroupKeys = new(StringComparer.Ordinal)
    {
        ["client"] = "client_name",
        ["account"] = "account_name",
        ["provider"] = "provider_name",
        ["day"] = "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    };

    public static RouteGroupBuilder MapReports(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin/reports").WithTags("Audit").RequireAuthorization(ApiKeyAuthentication.AdminPolicy)
            .WithAdminProblems();

        group.MapGet("/usage", Usage)
            .WithSummary("Count tokens served, upstream logins, refreshes and failures per client, account, provider or day")
            .WithDescription("from and to are required (ISO 8601, [from, to), at most Broker:Audit:MaxReportSpan apart); group_by is " +
                             "client, account, provider or day (UTC). Logins and refreshes count every upstream call, whatever its outcome; " +
                             "failures count the failures callers were shown (token.failed, auth.failed, auth.forbidden, request.rate_limited, " +
                             "request.failed). JSON by default; CSV with Accept: text/csv.")
            .Produces<UsageReport>(StatusCodes.Status200OK, "application/json", "text/csv")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return group;
    }

    public static async Task<Results<Ok<UsageReport>, ContentHttpResult, ValidationProblem>> Usage(
        string? from, string? to, [Microsoft.AspNetCore.Mvc.FromQuery(Name = "group_by")] string? groupBy,
        HttpContext http, NpgsqlDataSource dataSource, TimeProvider time, IOptions<AuditOptions> options, CancellationToken ct)
    {
        var errors = new FieldErrors();
        if (to is null) errors.Add("to", "is required (an ISO 8601 time, e.g. 2026-02-01T00:00:00Z).");
        var range = TimeRange.Parse(from, to, fromRequired: true, time.GetUtcNow(), options.Value.MaxReportSpan, errors);
        if (groupBy is null || !GroupKeys.ContainsKey(groupBy)) errors.Add("group_by", $"must be one of {string.Join(", ", GroupKeys.Keys)}.");
        if (errors.Any || range is not { } r) return Problems.Validation(errors.ToDictionary());

        var rows = await QueryAsync(dataSource, groupBy!, r, ct);
        var report = new UsageReport(r.From, r.To, groupBy!, rows);
        return WantsCsv(http.Request)
            ? TypedResults.Text(UsageCsv.Write(report), "text/csv; charset=utf-8")
            : TypedResults.Ok(report);
    }

    private static async Task<List<UsageRow>> QueryAsync(NpgsqlDataSource dataSource, string groupBy, TimeRange range, CancellationToken ct)
    {
        await using var command = UsageCommand(dataSource, groupBy, range);
        var rows = new List<UsageRow>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            rows.Add(new UsageRow(reader.IsDBNull(0) ? null : reader.GetString(0),
                reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4)));
        return rows;
    }

    /// <summary>
    /// The report's query: one pass over the range through ix_audit_events_at, which covers every column read
    /// here (a test checks the plan). <paramref name="groupBy"/> must be a key of the validated set.
    /// </summary>
    public static NpgsqlCommand UsageCommand(NpgsqlDataSource dataSource, string groupBy, TimeRange range)
    {
        var command = dataSource.CreateCommand($"""
            SELECT {GroupKeys[groupBy]} AS key,
                   count(*) FILTER (WHERE action = $3) AS served,
                   count(*) FILTER (WHERE action = $4) AS logins,
                   count(*) FILTER (WHERE action = $5) AS refreshes,
                   count(*) FILTER (WHERE action = ANY($6)) AS failures
            FROM audit_events
            WHERE at >= $1 AND at < $2 AND action = ANY($7)
            GROUP BY 1
            ORDER BY 1 NULLS LAST
            """);
        string[] failures = [.. AuditActions.CallerFailures];
        command.Parameters.Add(new() { Value = range.From });
        command.Parameters.Add(new() { Value = range.To });
        command.Parameters.Add(new() { Value = AuditActions.TokenServed });
        command.Parameters.Add(new() { Value = AuditActions.TokenObtained });
        command.Parameters.Add(new() { Value = AuditActions.TokenRefreshed });
        command.Parameters.Add(new() { Value = failures });
        command.Parameters.Add(new() { Value = (string[])[AuditActions.TokenServed, AuditActions.TokenObtained, AuditActions.TokenRefreshed, .. failures] });
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
