using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Audit;

/// <summary>Reading the trail straight from PostgreSQL, and making sure the batch writer has written it.</summary>
public static class AuditSupport
{
    /// <summary>
    /// Stops every broker (which drains the audit queue into the table) and starts a fresh one on the same
    /// database: afterwards every event of the traffic so far is in the table, with no polling.
    /// </summary>
    public static async Task DrainAsync(this BrokerWorld world)
    {
        foreach (var broker in world.Brokers) await broker.DisposeAsync();
        world.Brokers.Clear();
        await world.AddBrokerAsync();
    }

    public static Task<long> CountAsync(this BrokerWorld world, string where, params object[] parameters) =>
        world.ScalarAsync<long>($"SELECT count(*) FROM audit_events WHERE {where}", parameters);

    /// <summary>How many events the matching rows stand for (a rollup row stands for its count).</summary>
    public static Task<long> EventsAsync(this BrokerWorld world, string where, params object[] parameters) =>
        world.ScalarAsync<long>($"SELECT coalesce(sum(count), 0)::bigint FROM audit_events WHERE {where}", parameters);

    public static Task<List<string>> DetailsAsync(this BrokerWorld world, string action) =>
        world.ColumnAsync<string>("SELECT detail FROM audit_events WHERE action = $1 ORDER BY id", action);

    /// <summary>A GET with the admin key and an Accept header; returns the status and the body text.</summary>
    public static async Task<(HttpStatusCode Status, string Body, string? ContentType)> AdminGetAsync(this BrokerWorld world, string path, string accept = "application/json")
    {
        using var request = world.Broker.Request(HttpMethod.Get, path, BrokerWorld.AdminKey);
        request.Headers.Accept.Add(MediaTypeWithQualityHeaderValue.Parse(accept));
        using var response = await world.Broker.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response.Content.Headers.ContentType?.MediaType);
    }

    /// <summary>Every item of GET /admin/audit with the given query, following next_cursor, newest first.</summary>
    public static async Task<List<JsonObject>> AuditItemsAsync(this BrokerWorld world, string query, int limit = 1000)
    {
        var items = new List<JsonObject>();
        string? cursor = null;
        do
        {
            var page = await world.AdminAsync(HttpMethod.Get, $"/admin/audit?{query}&limit={limit}" + (cursor is null ? "" : $"&cursor={cursor}"));
            items.AddRange(page["items"]!.AsArray().Select(i => i!.AsObject()));
            cursor = page["next_cursor"]?.GetValue<string>();
        } while (cursor is not null);
        return items;
    }

    public static string Iso(DateTimeOffset time) => Uri.EscapeDataString(time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ"));
}
