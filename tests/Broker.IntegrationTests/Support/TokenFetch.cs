using System.Net;
using System.Text.Json.Nodes;

namespace Broker.IntegrationTests.Support;

public static class TokenFetch
{
    public static async Task<(HttpStatusCode Status, JsonObject Body, HttpResponseMessage Response)> FetchAsync(
        this BrokerHost broker, string account, string apiKey, int? minValidity = null)
    {
        var path = $"/v1/accounts/{account}/token" + (minValidity is { } m ? $"?min_validity={m}" : "");
        var response = await broker.GetAsync(path, apiKey);
        var text = await response.Content.ReadAsStringAsync();
        var body = text.Length > 0 ? JsonNode.Parse(text)!.AsObject() : new JsonObject();
        return (response.StatusCode, body, response);
    }

    public static async Task<string> TokenAsync(this BrokerHost broker, string account, string apiKey, int? minValidity = null)
    {
        var (status, body, _) = await broker.FetchAsync(account, apiKey, minValidity);
        status.ShouldBe(HttpStatusCode.OK, body.ToJsonString());
        return body["access_token"]!.GetValue<string>();
    }
}
