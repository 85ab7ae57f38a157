using System.Net;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Admin;

/// <summary>Bodies that are not what the endpoint reads get a 400 problem naming the field, never echoing a value.</summary>
public sealed class RequestBodyTests(SharedWorld shared) : IClassFixture<SharedWorld>
{
    private readonly BrokerWorld _world = shared.World;

    [Theory]
    [InlineData("/admin/providers", """{"name":"p","dialect":"simplejwt","token_url":"https://x.example/t","tokenUrl":"https://x.example/t"}""", "tokenUrl",
        "is not a known field; did you mean `token_url`?")]
    [InlineData("/admin/accounts", """{"name":"a","provider":"p","passwd":"leaky-value-1"}""", "passwd", "is not a known field; did you mean `password`?")]
    [InlineData("/admin/clients", """{"name":"c","grants":["a"]}""", "grants", "is not a known field.")]
    [InlineData("/admin/accounts", """{"name":"a","provider":"p","userName":"someone"}""", "userName", "is not a known field; did you mean `username`?")]
    public async Task Unknown_field_is_named_and_its_value_not_echoed(string path, string body, string field, string message)
    {
        _world.Secrets.Add("leaky-value-1");
        var answer = await _world.SendAsync(HttpMethod.Post, path, rawBody: body);
        answer.ShouldNameBadFields(field);
        answer.Json["errors"]![field]![0]!.GetValue<string>().ShouldBe(message);
    }

    [Fact]
    public async Task Every_unknown_field_is_named_at_once_with_the_field_it_likely_meant()
    {
        _world.Secrets.Add("leaky-value-2");
        var answer = await _world.SendAsync(HttpMethod.Post, "/admin/providers",
            rawBody: """{"name":"p","dialect":"simplejwt","tokenUrl":"https://x.example/t","clientSecret":"leaky-value-2","bogus":1}""");

        answer.ShouldNameBadFields("tokenUrl", "clientSecret", "bogus");
        answer.Json["errors"]!["tokenUrl"]![0]!.GetValue<string>().ShouldBe("is not a known field; did you mean `token_url`?");
        answer.Json["errors"]!["clientSecret"]![0]!.GetValue<string>().ShouldBe("is not a known field; did you mean `client_secret`?");
        answer.Json["errors"]!["bogus"]![0]!.GetValue<string>().ShouldBe("is not a known field.");
    }

    [Fact]
    public async Task An_unknown_field_in_a_body_over_the_size_limit_is_a_problem_not_a_server_error()
    {
        // Looking for more unknown fields reads the rest of the body, past Kestrel's limit: that must not become a 500.
        var answer = await _world.SendAsync(HttpMethod.Post, "/admin/providers", rawBody: $$"""{"bogus":1,"name":"{{new string('a', 100_000)}}"}""");
        answer.Status.ShouldBeOneOf([HttpStatusCode.BadRequest, HttpStatusCode.RequestEntityTooLarge], answer.Text);
        answer.ContentType.ShouldBe("application/problem+json");
    }

    [Fact]
    public async Task A_misspelt_field_a_letter_off_gets_a_hint()
    {
        var answer = await _world.SendAsync(HttpMethod.Post, "/admin/accounts", rawBody: """{"name":"a","provider":"p","pasword":"x","usrname":"u"}""");
        answer.ShouldNameBadFields("pasword", "usrname");
        answer.Json["errors"]!["pasword"]![0]!.GetValue<string>().ShouldBe("is not a known field; did you mean `password`?");
        answer.Json["errors"]!["usrname"]![0]!.GetValue<string>().ShouldBe("is not a known field; did you mean `username`?");
    }

    [Fact]
    public async Task Unknown_field_in_a_patch_is_named()
    {
        var account = await _world.AccountAsync("simplejwt");
        (await _world.SendAsync(HttpMethod.Patch, $"/admin/accounts/{account.Name}", rawBody: """{"state":"active"}""")).ShouldNameBadFields("state");
    }

    [Fact]
    public async Task Malformed_json_is_a_400_problem_that_says_where()
    {
        _world.Secrets.Add("half-typed-secret");
        var answer = await _world.SendAsync(HttpMethod.Post, "/admin/accounts", rawBody: """{"name":"a","password":"half-typed-secret" """);
        answer.ShouldNameBadFields("body");
        answer.Json["errors"]!["body"]![0]!.GetValue<string>().ShouldStartWith("is not valid JSON (line 1");
    }

    [Theory]
    [InlineData("""{"name":"p","dialect":"simplejwt","token_url":"https://x.example/t","default_access_lifetime_seconds":"soon"}""", "default_access_lifetime_seconds")]
    [InlineData("""{"name":42,"dialect":"simplejwt","token_url":"https://x.example/t"}""", "name")]
    [InlineData("""["not","an","object"]""", "body")]
    public async Task Value_of_the_wrong_type_is_named(string body, string field)
    {
        (await _world.SendAsync(HttpMethod.Post, "/admin/providers", rawBody: body)).ShouldNameBadFields(field);
    }

    [Fact]
    public async Task Wrong_type_inside_a_list_names_the_list_item()
    {
        (await _world.SendAsync(HttpMethod.Post, "/admin/clients", rawBody: """{"name":"c","accounts":[1]}""")).ShouldNameBadFields("accounts[0]");
    }

    [Fact]
    public async Task Missing_body_is_named()
    {
        (await _world.SendAsync(HttpMethod.Post, "/admin/providers")).ShouldNameBadFields("body");
        (await _world.SendAsync(HttpMethod.Post, "/admin/providers", rawBody: "null")).ShouldNameBadFields("body");
    }

    [Theory]
    [InlineData("application/x-www-form-urlencoded")] // what curl -d sends unless told otherwise
    [InlineData("text/plain")]
    [InlineData(null)]
    public async Task Body_without_a_json_content_type_is_a_415_problem_that_says_what_to_send(string? contentType)
    {
        var content = new ByteArrayContent("""{"name":"p"}"""u8.ToArray());
        if (contentType is not null) content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        using var response = await _world.Broker.SendAsync(_world.Broker.Request(HttpMethod.Post, "/admin/providers", BrokerWorld.AdminKey, content));

        response.StatusCode.ShouldBe(HttpStatusCode.UnsupportedMediaType);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        var problem = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        problem["type"]!.GetValue<string>().ShouldBe("https://broker.dev/errors/unsupported-media-type");
        problem["detail"]!.GetValue<string>().ShouldContain("Content-Type: application/json");
    }

    [Fact]
    public async Task Rotate_takes_no_body_at_all()
    {
        await _world.AdminAsync(HttpMethod.Post, "/admin/clients", new { name = "svc" }, HttpStatusCode.Created);
        var answer = await _world.SendAsync(HttpMethod.Post, "/admin/clients/svc/rotate");
        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Text);
        answer.Json["api_key"]!.GetValue<string>().ShouldStartWith("brk_");
    }

    [Fact]
    public async Task Concurrent_creates_of_one_name_give_one_201_and_409s_for_the_rest()
    {
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => _world.SendAsync(HttpMethod.Post, "/admin/providers",
            body: new { name = "same", dialect = "simplejwt", token_url = "https://x.example/t" })));

        answers.Count(a => a.Status == HttpStatusCode.Created).ShouldBe(1);
        foreach (var refused in answers.Where(a => a.Status != HttpStatusCode.Created))
            refused.ShouldBeProblem(HttpStatusCode.Conflict, "conflict");
    }
}
