using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Admin;

/// <summary>Raw admin requests for the tests that look at refusals: any key, any body text, the status and body back.</summary>
public static class AdminHttp
{
    public sealed record Answer(HttpStatusCode Status, string Text, string? ContentType)
    {
        public JsonObject Json => JsonNode.Parse(Text)!.AsObject();

        /// <summary>The field names of a 400 problem's errors map.</summary>
        public IReadOnlyList<string> ErrorFields => Json["errors"]?.AsObject().Select(e => e.Key).Order().ToList() ?? [];

        public string ProblemType => Json["type"]!.GetValue<string>();
    }

    public static async Task<Answer> SendAsync(this BrokerWorld world, HttpMethod method, string path, string? key = BrokerWorld.AdminKey,
        object? body = null, string? rawBody = null)
    {
        HttpContent? content = rawBody is not null ? new StringContent(rawBody, Encoding.UTF8, "application/json")
            : body is not null ? new StringContent(JsonSerializer.Serialize(body, BrokerWorld.Json), Encoding.UTF8, "application/json")
            : null;
        using var response = await world.Broker.SendAsync(world.Broker.Request(method, path, key, content));
        var text = await response.Content.ReadAsStringAsync();
        return new Answer(response.StatusCode, text, response.Content.Headers.ContentType?.MediaType);
    }

    public static Answer ShouldBeProblem(this Answer answer, HttpStatusCode status, string type)
    {
        answer.Status.ShouldBe(status, answer.Text);
        answer.ContentType.ShouldBe("application/problem+json");
        answer.ProblemType.ShouldBe($"https://broker.dev/errors/{type}");
        return answer;
    }

    /// <summary>A 400 problem whose errors map names exactly these fields.</summary>
    public static Answer ShouldNameBadFields(this Answer answer, params string[] fields)
    {
        answer.ShouldBeProblem(HttpStatusCode.BadRequest, "bad-request");
        answer.ErrorFields.ShouldBe(fields.Order().ToList(), answer.Text);
        return answer;
    }

}
