using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Admin;

/// <summary>The OpenAPI document at /swagger/v1/swagger.json, which the Swagger UI is built from.</summary>
public sealed partial class OpenApiDocumentTests(OpenApiDocumentTests.Served served) : IClassFixture<OpenApiDocumentTests.Served>
{
    /// <summary>The document as a broker serves it, fetched once for every test of the class (it reads it only).</summary>
    public sealed class Served : IAsyncLifetime
    {
        public JsonObject Document { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            await using var world = await BrokerWorld.StartAsync();
            using var response = await world.Broker.GetAsync("/swagger/v1/swagger.json", null);
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            var text = await response.Content.ReadAsStringAsync();
            File.WriteAllText(Path.Combine(AppContext.BaseDirectory, "swagger.json"), text);
            Document = JsonNode.Parse(text)!.AsObject();
        }

        public Task DisposeAsync() => Task.CompletedTask;
    }

    private readonly JsonObject _document = served.Document;

    private IEnumerable<(string Path, string Method, JsonObject Operation)> Operations() =>
        from path in _document["paths"]!.AsObject()
        // A person's browser lands there, with no key: it answers HTML pages (its own test below).
        where path.Key != "/oauth/callback"
        from operation in path.Value!.AsObject()
        select (path.Key, operation.Key, operation.Value!.AsObject());

    private static IReadOnlyCollection<string> Responses(JsonObject operation) => operation["responses"]!.AsObject().Select(r => r.Key).ToList();

    [Fact]
    public void The_connect_callback_is_documented_as_html_pages()
    {
        var callback = _document["paths"]!["/oauth/callback"]!["get"]!.AsObject();
        callback["summary"]!.GetValue<string>().ShouldNotBeNullOrWhiteSpace();
        callback["responses"]!.AsObject().Select(r => r.Key).ShouldBe(["200", "400", "409", "502"], ignoreOrder: true);
        callback["responses"]!.AsObject().ShouldAllBe(r => r.Value!["content"]!.AsObject().Select(c => c.Key).Single() == "text/html");
        callback["parameters"]!.AsArray().Select(p => p!["name"]!.GetValue<string>()).ShouldBe(["state", "code", "error", "error_description", "iss"], ignoreOrder: true);
        callback["security"]!.AsArray().ShouldBeEmpty(); // the state authenticates it, not a key
        _document["paths"]!["/admin/accounts/{name}/connect"]!["post"]!["security"].ShouldBeNull(); // the document's: a key
    }

    [Fact]
    public void Every_operation_has_a_summary()
    {
        Operations().Count().ShouldBeGreaterThanOrEqualTo(22);
        Operations().Where(o => string.IsNullOrWhiteSpace(o.Operation["summary"]?.GetValue<string>()))
            .Select(o => $"{o.Method} {o.Path}").ShouldBeEmpty();
    }

    [Fact]
    public void Every_operation_lists_the_problems_it_can_answer()
    {
        var missing = new List<string>();
        foreach (var (path, method, operation) in Operations())
        {
            var responses = Responses(operation);
            var expected = new List<string> { "401", "403" };
            if (path.StartsWith("/admin", StringComparison.Ordinal)) expected.Add("503");
            if (path.Contains('{', StringComparison.Ordinal)) expected.Add("404");
            if (operation.ContainsKey("requestBody")) expected.Add("400");
            missing.AddRange(expected.Except(responses).Select(code => $"{method} {path}: {code}"));
        }
        missing.ShouldBeEmpty();
    }

    [Fact]
    public void Every_problem_response_is_problem_json_with_a_typed_example()
    {
        var wrong = new List<string>();
        foreach (var (path, method, operation) in Operations())
        foreach (var (code, response) in operation["responses"]!.AsObject().Where(r => int.Parse(r.Key) >= 400))
        {
            var content = response!["content"]?.AsObject();
            var example = content?["application/problem+json"]?["example"];
            if (example?["type"]?.GetValue<string>().StartsWith("https://broker.dev/errors/", StringComparison.Ordinal) != true ||
                example["status"]!.GetValue<int>() != int.Parse(code))
                wrong.Add($"{method} {path} {code}");
        }
        wrong.ShouldBeEmpty();
    }

    [Fact]
    public void Every_request_body_and_success_answer_with_a_body_has_a_snake_case_example()
    {
        var missing = new List<string>();
        foreach (var (path, method, operation) in Operations())
        {
            if (operation["requestBody"] is { } body && Example(body["content"]!["application/json"]!["schema"]!) is null)
                missing.Add($"{method} {path} request");
            foreach (var (code, response) in operation["responses"]!.AsObject().Where(r => r.Key.StartsWith('2')))
                if (response!["content"]?["application/json"]?["schema"] is { } schema && Example(schema) is null)
                    missing.Add($"{method} {path} {code}");
        }
        missing.ShouldBeEmpty();

        var examples = _document["components"]!["schemas"]!.AsObject().Select(s => s.Value!["example"]).OfType<JsonObject>().ToList();
        examples.Count.ShouldBeGreaterThanOrEqualTo(10);
        examples.SelectMany(e => e.Select(p => p.Key)).Where(name => !SnakeCase().IsMatch(name)).ShouldBeEmpty();
    }

    [Fact]
    public void Schema_property_names_are_the_snake_case_names_on_the_wire()
    {
        var schemas = _document["components"]!["schemas"]!.AsObject();
        var names = schemas.SelectMany(s => s.Value!["properties"]?.AsObject().Select(p => $"{s.Key}.{p.Key}") ?? []).ToList();
        names.ShouldContain("ProviderRequest.token_url");
        names.ShouldContain("AccountResponse.has_password");
        names.ShouldContain("RotateKeyRequest.overlap_seconds");
        names.Where(n => !SnakeCase().IsMatch(n[(n.IndexOf('.') + 1)..])).ShouldBeEmpty();
    }

    [Fact]
    public void Write_only_secrets_appear_in_requests_only()
    {
        var schemas = _document["components"]!["schemas"]!.AsObject();
        string[] secrets = ["password", "client_secret"];
        foreach (var response in new[] { "ProviderResponse", "AccountResponse", "ClientResponse" })
            schemas[response]!["properties"]!.AsObject().Select(p => p.Key).Intersect(secrets).ShouldBeEmpty(response);
        schemas["AccountRequest"]!["properties"]!.AsObject().Select(p => p.Key).ShouldContain("password");
    }

    [Fact]
    public void Bearer_scheme_lets_the_ui_authorize_every_operation()
    {
        var scheme = _document["components"]!["securitySchemes"]!["bearer"]!;
        scheme["type"]!.GetValue<string>().ShouldBe("http");
        scheme["scheme"]!.GetValue<string>().ShouldBe("bearer");
        _document["security"]!.AsArray().ShouldHaveSingleItem()!.AsObject().Select(s => s.Key).ShouldBe(["bearer"]);
    }

    [Fact]
    public void Every_operation_has_a_unique_operation_id()
    {
        var ids = Operations().Select(o => o.Operation["operationId"]?.GetValue<string>()).ToList();
        ids.ShouldAllBe(id => !string.IsNullOrEmpty(id));
        ids.Distinct().Count().ShouldBe(ids.Count);
        Operations().Single(o => o.Path == "/admin/accounts" && o.Method == "post").Operation["operationId"]!.GetValue<string>().ShouldBe("CreateAccount");
    }

    [Fact]
    public void Tags_come_in_the_order_of_the_work_each_with_a_description()
    {
        var tags = _document["tags"]!.AsArray();
        tags.Select(t => t!["name"]!.GetValue<string>()).ShouldBe(["Providers", "Accounts", "Clients", "Issuers", "Tokens", "Audit & reports", "Webhooks"]);
        tags.ShouldAllBe(t => t!["description"]!.GetValue<string>().Length > 20);
        Operations().SelectMany(o => o.Operation["tags"]!.AsArray().Select(t => t!.GetValue<string>())).Distinct()
            .ShouldBe(["Providers", "Accounts", "Clients", "Issuers", "Tokens", "Audit & reports", "Webhooks"]); // the paths in the same order
    }

    [Theory]
    [InlineData("ProviderRequest", "dialect", "sliderule,simplejwt,keycloak,oauth2-password,oauth2-client-credentials,oauth2-authorization-code")]
    [InlineData("ProviderResponse", "dialect", "sliderule,simplejwt,keycloak,oauth2-password,oauth2-client-credentials,oauth2-authorization-code")]
    [InlineData("ProviderRequest", "client_authentication", "basic,body")]
    [InlineData("ClientRequest", "role", "consumer,admin")]
    [InlineData("ClientResponse", "role", "consumer,admin")]
    [InlineData("AccountResponse", "state", "active,needs_attention,inactive")]
    public void Fields_that_name_a_choice_list_their_values(string schema, string field, string values) =>
        _document["components"]!["schemas"]![schema]!["properties"]![field]!["enum"]!.AsArray()
            .Select(v => v!.GetValue<string>()).ShouldBe(values.Split(','));

    [Fact]
    public void Report_and_trail_parameters_are_described_with_their_choices()
    {
        JsonObject Parameter(string path, string name) => _document["paths"]![path]!["get"]!["parameters"]!.AsArray()
            .Single(p => p!["name"]!.GetValue<string>() == name)!.AsObject();

        Parameter("/admin/reports/usage", "format")["schema"]!["enum"]!.AsArray().Select(v => v!.GetValue<string>()).ShouldBe(["json", "csv", "svg"]);
        Parameter("/admin/reports/usage", "action")["schema"]!["enum"]!.AsArray().Select(v => v!.GetValue<string>()).ShouldContain("token.served");
        Parameter("/admin/audit", "action")["schema"]!["enum"]!.AsArray().Select(v => v!.GetValue<string>()).ShouldContain("client.created");
        Parameter("/admin/reports/usage", "from")["required"]!.GetValue<bool>().ShouldBeTrue();
        Parameter("/admin/reports/usage", "from")["schema"]!["enum"].ShouldBeNull();
        Parameter("/admin/reports/usage", "group_by")["description"]!.GetValue<string>().ShouldContain("client,account");
    }

    [Fact]
    public void Required_fields_are_marked_on_requests_and_answers()
    {
        var schemas = _document["components"]!["schemas"]!.AsObject();
        List<string> Required(string schema) => schemas[schema]!["required"]?.AsArray().Select(r => r!.GetValue<string>()).ToList() ?? [];

        Required("ProviderRequest").ShouldBe(["dialect", "token_url"], ignoreOrder: true);
        Required("AccountRequest").ShouldBe(["provider"]);
        Required("ClientRequest").ShouldBe(["name"]);
        Required("TokenHmacRequest").ShouldBe(["access_token"]);
        Required("AccountPatch").ShouldBeEmpty();
        // Answers: every field is always there (null when it has no value), except the key shown once.
        foreach (var answer in new[] { "ProviderResponse", "AccountResponse", "ClientResponse", "TokenResponse", "AuditPage", "AuditItem", "UsageReport", "UsageRow" })
            Required(answer).ShouldBe(schemas[answer]!["properties"]!.AsObject().Select(p => p.Key).Where(p => p != "api_key"), ignoreOrder: true, answer);
        Required("ClientResponse").ShouldNotContain("api_key");
    }

    [Fact]
    public void Every_request_body_carries_its_example_and_each_400_example_names_a_field_of_its_own_endpoint()
    {
        foreach (var (path, method, operation) in Operations().Where(o => o.Operation.ContainsKey("requestBody")))
            operation["requestBody"]!["content"]!["application/json"]!["example"].ShouldBeOfType<JsonObject>($"{method} {path}");

        string Field400(string path, string method) =>
            Operations().Single(o => o.Path == path && o.Method == method).Operation["responses"]!["400"]!["content"]!["application/problem+json"]!
                ["example"]!["errors"]!.AsObject().Single().Key;
        Field400("/admin/providers", "post").ShouldBe("token_url");
        Field400("/admin/accounts", "post").ShouldBe("provider");
        Field400("/admin/clients", "post").ShouldBe("role");
        Field400("/admin/clients/{name}/rotate", "post").ShouldBe("overlap_seconds");
        Field400("/admin/reports/usage", "get").ShouldBe("group_by");
        Field400("/admin/audit/token-hmac", "post").ShouldBe("access_token");
        foreach (var (path, method, operation) in Operations().Where(o => o.Operation["requestBody"] is not null && o.Path.StartsWith("/admin/accounts")))
        {
            var example = operation["requestBody"]!["content"]!["application/json"]!["example"]!.AsObject().Select(p => p.Key).ToList();
            Field400(path, method).ShouldBeOneOf([.. example, "provider"], $"{method} {path}");
        }
    }

    /// <summary>The example of a schema, following a $ref or an array's items.</summary>
    private JsonNode? Example(JsonNode schema)
    {
        if (schema["example"] is { } inline) return inline;
        if (schema["items"] is { } items) return Example(items);
        if (schema["$ref"]?.GetValue<string>() is { } reference)
            return _document["components"]!["schemas"]![reference.Split('/')[^1]]!["example"];
        return null;
    }

    [GeneratedRegex("^[a-z][a-z0-9]*(_[a-z0-9]+)*$")]
    private static partial Regex SnakeCase();
}
