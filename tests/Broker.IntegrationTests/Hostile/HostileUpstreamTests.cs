using System.Net;
using System.Text;
using Broker.Domain;
using Broker.IntegrationTests.Audit;
using Broker.IntegrationTests.Support;
using Broker.Infrastructure.Persistence;
using Broker.Simulator;

namespace Broker.IntegrationTests.Hostile;

/// <summary>
/// Whatever an upstream answers (hostile text in error and token fields, huge or broken bodies, a slow drip, any
/// status and content type), the broker answers a problem of a known type (never a 500), commits the account's
/// state and audit row, shows consumers none of the upstream's words, and a refusal of credentials costs exactly
/// one login until an admin acts.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class HostileUpstreamTests : IAsyncLifetime
{
    // In every hostile text: what must reach admins (last_error) and never consumers.
    private const string Marker = "zq-upstream-words";

    private static readonly string[] UpstreamProblemTypes =
        ["upstream-credentials-rejected", "account-inactive", "upstream-unavailable", "upstream-timeout", "upstream-protocol-error", "upstream-endpoint-not-found"];

    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
    {
        ["Broker:Upstream:Timeout"] = "00:00:01",
        ["Broker:Upstream:LoginRetries"] = "0",
        // Every case is a new account on the same provider: the breaker must not stand in for the upstream.
        ["Broker:Upstream:BreakerMinimumThroughput"] = "1000",
    });

    public async Task DisposeAsync() => await _world.DisposeAsync();

    /// <summary>Hostile texts as raw JSON string contents (escapes included), each with the marker up front.</summary>
    private static IEnumerable<string> HostileJsonTexts()
    {
        // An emoji at every position around the 200-character cut of the upstream's words (and the prefix
        // "error: " some shapes add), and around Limits.Detail.
        foreach (var cut in new[] { UpstreamTextMax, Limits.Detail })
            for (var at = cut - 24; at <= cut + 2; at++)
                yield return Marker + new string('a', at - Marker.Length) + "😀" + new string('b', 40);
        yield return Marker + " \\ud800 lone high \\udfff lone low \\ud83d";
        yield return Marker + new string('x', 190) + "\\ud83d";
        yield return Marker + " NUL \\u0000 in the middle \\u0000";
        yield return Marker + " bidi \\u202e\\u2066evil\\u2069\\u202c done";
        yield return Marker + " combining e" + string.Concat(Enumerable.Repeat("\\u0301", 400));
        yield return Marker + " escape \\u001b[31m red \\r\\n forged: log line \\u0085 \\u2028";
        yield return Marker + " BOM \\ufeff and \\uffff";
        yield return Marker + new string('w', 300_000); // long, but under the body cap
    }

    private const int UpstreamTextMax = 200;

    [Theory]
    [InlineData(DialectNames.SlideRule)]
    [InlineData(DialectNames.SimpleJwt)]
    [InlineData(DialectNames.Keycloak)]
    [InlineData(DialectNames.OAuth2Password)]
    [InlineData(DialectNames.OAuth2ClientCredentials)]
    public async Task Refusals_with_hostile_text_cost_one_login_and_leave_clean_state(string dialect)
    {
        var statuses = RefusalStatuses(dialect);
        var i = 0;
        foreach (var text in HostileJsonTexts())
        {
            var status = statuses[i % statuses.Length];
            // RFC 6749's error shape for the OAuth2 dialects; the others get it or Django's {"detail", "code"} in turn.
            var body = dialect.StartsWith("oauth2", StringComparison.Ordinal) || i++ % 2 == 0
                ? $"{{\"error\":\"invalid_grant\",\"error_description\":\"{text}\"}}"
                : $"{{\"detail\":\"{text}\",\"code\":\"{text}\"}}";
            await AssertRefusedOnceAsync(dialect, ScriptedAnswer.Json(status, body), $"{dialect} {status} text #{i}");
        }
        // The refusal as bytes that are not UTF-8, and as a huge body.
        await AssertRefusedOnceAsync(dialect, new ScriptedAnswer(401, "application/json",
            [.. "{\"detail\":\""u8, .. Encoding.ASCII.GetBytes(Marker), 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, .. "\"}"u8]), $"{dialect} invalid UTF-8");
        await AssertRefusedOnceAsync(dialect, new ScriptedAnswer(401, "text/html", Encoding.ASCII.GetBytes("<h1>" + Marker + "</h1>")), $"{dialect} html 401",
            showsUpstreamWords: false); // an HTML page is not quoted to the admin
    }

    [Theory]
    [InlineData(DialectNames.SlideRule)]
    [InlineData(DialectNames.SimpleJwt)]
    [InlineData(DialectNames.Keycloak)]
    [InlineData(DialectNames.OAuth2Password)]
    public async Task A_refused_refresh_then_a_refused_login_cost_one_each(string dialect)
    {
        var (account, key) = await AccountAsync(dialect);
        await _world.Broker.TokenAsync(account.Name, key);
        _world.Clock.Advance(SimulatorState.DefaultAccessLifetime + TimeSpan.FromMinutes(1));
        var text = Marker + new string('a', 190) + "😀\\ud800\\u0000\\u202e";
        _world.Simulator.SetScript(account.Username, ScriptedAnswer.Json(401,
            $"{{\"error\":\"invalid_grant\",\"error_description\":\"{text}\",\"detail\":\"{text}\"}}"));

        for (var n = 0; n < 4; n++)
        {
            var (status, body) = await FetchAsync(account.Name, key);
            status.ShouldBe(HttpStatusCode.Conflict, await LastErrorAsync(account.Name));
            body.ShouldNotContain(Marker);
        }
        _world.Simulator.ScriptedAnswers(account.Username).ShouldBe(2); // the refresh, then the one login
        await AssertStateAsync(account, "needs_attention");
    }

    [Theory]
    [InlineData(DialectNames.SlideRule)]
    [InlineData(DialectNames.SimpleJwt)]
    [InlineData(DialectNames.Keycloak)]
    [InlineData(DialectNames.OAuth2Password)]
    [InlineData(DialectNames.OAuth2ClientCredentials)]
    public async Task Any_other_answer_is_a_problem_of_a_known_type_and_the_broker_keeps_serving(string dialect)
    {
        var (accessField, refreshField) = dialect is DialectNames.SlideRule or DialectNames.SimpleJwt ? ("access", "refresh") : ("access_token", "refresh_token");
        var hostileTokens = new[]
        {
            "tok\\u0000en", "tok\\ud800en", "tok😀en", "tok\\u001ben", "tok\\u202een", "tok\\nen", new string('t', 20_000), "tok\\u00e9n",
        };
        var answers = new List<(string Name, ScriptedAnswer Answer, HttpStatusCode? Expect)>();
        foreach (var token in hostileTokens)
        {
            answers.Add(($"hostile access {token[..Math.Min(12, token.Length)]}",
                ScriptedAnswer.Json(200, $"{{\"{accessField}\":\"{token}\",\"{refreshField}\":\"r\",\"expires_in\":300}}"), HttpStatusCode.BadGateway));
            if (dialect != DialectNames.OAuth2ClientCredentials)
                answers.Add(($"hostile refresh {token[..Math.Min(12, token.Length)]}",
                    ScriptedAnswer.Json(200, $"{{\"{accessField}\":\"good\",\"{refreshField}\":\"{token}\",\"expires_in\":300}}"), HttpStatusCode.BadGateway));
        }
        answers.Add(("hostile token_type", ScriptedAnswer.Json(200, $"{{\"{accessField}\":\"good\",\"token_type\":\"Bearer\\r\\nX-Evil: 1\"}}"), HttpStatusCode.BadGateway));
        answers.Add(("overlong token_type", ScriptedAnswer.Json(200, $"{{\"{accessField}\":\"good\",\"token_type\":\"{new string('B', 41)}\"}}"), HttpStatusCode.BadGateway));
        answers.Add(("absurd expiries", ScriptedAnswer.Json(200, $"{{\"{accessField}\":\"good\",\"exp\":-62135596800,\"expires_in\":1e308}}"), HttpStatusCode.OK));
        answers.Add(("hostile text elsewhere in a grant", ScriptedAnswer.Json(200,
            $"{{\"{accessField}\":\"good\",\"scope\":\"\\ud800\\u0000😀\",\"{Marker}\":\"\\u202e\"}}"), HttpStatusCode.OK));
        answers.Add(("token as JSON under a wrong content type", new ScriptedAnswer(200, "text/html",
            Encoding.UTF8.GetBytes($"{{\"{accessField}\":\"good\"}}")), HttpStatusCode.OK));
        answers.Add(("no content type", new ScriptedAnswer(200, null, Encoding.UTF8.GetBytes($"{{\"{accessField}\":\"good\"}}")), HttpStatusCode.OK));
        var huge = Encoding.UTF8.GetBytes($"{{\"{accessField}\":\"good\",\"pad\":\"{new string('p', 1_200_000)}\"}}");
        answers.Add(("over 1 MiB with Content-Length", new ScriptedAnswer(200, "application/json", huge), HttpStatusCode.BadGateway));
        answers.Add(("over 1 MiB chunked", new ScriptedAnswer(200, "application/json", huge, WithContentLength: false), HttpStatusCode.BadGateway));
        answers.Add(("over 1 MiB refusal, chunked", new ScriptedAnswer(401, "application/json", huge, WithContentLength: false), HttpStatusCode.BadGateway));
        answers.Add(("invalid UTF-8 grant", new ScriptedAnswer(200, "application/json",
            [.. Encoding.ASCII.GetBytes($"{{\"{accessField}\":\"go"), 0xff, 0xc3, 0x28, .. "od\"}"u8]), HttpStatusCode.BadGateway));
        answers.Add(("a slow drip past the timeout", new ScriptedAnswer(200, "application/json",
            Encoding.UTF8.GetBytes($"{{\"{accessField}\":\"good\",\"pad\":\"{new string('p', 40)}\"}}"), ChunkBytes: 4, ChunkDelay: TimeSpan.FromMilliseconds(200)),
            HttpStatusCode.GatewayTimeout));
        answers.Add(("deeply nested JSON", ScriptedAnswer.Json(400, new string('[', 100_000) + new string(']', 100_000)), null));
        answers.Add(("a JSON string at the top", ScriptedAnswer.Json(401, $"\"{Marker}\\ud800\""), null));
        answers.Add(("empty 200", new ScriptedAnswer(200, "application/json", []), HttpStatusCode.BadGateway));
        var random = new Random(4242);
        foreach (var status in new[] { 200, 201, 204, 302, 400, 401, 403, 404, 409, 418, 429, 500, 502, 503, 599 })
        {
            var bytes = new byte[random.Next(0, 3000)];
            random.NextBytes(bytes);
            answers.Add(($"random bytes, HTTP {status}", new ScriptedAnswer(status, random.Next(2) == 0 ? "application/json" : "application/octet-stream", bytes), null));
        }

        foreach (var (name, answer, expect) in answers)
        {
            var (account, key) = await AccountAsync(dialect);
            _world.Simulator.SetScript(account.Username, answer);
            var (status, body) = await FetchAsync(account.Name, key);
            if (expect is { } expected) status.ShouldBe(expected, $"{dialect}, {name}: {await LastErrorAsync(account.Name)}");
            AssertKnownAnswer(status, body, $"{dialect}, {name}");
            if (status != HttpStatusCode.OK) body.ShouldNotContain(Marker);
            var audited = await AuditRowsAsync(account.Name, "action IN ('token.obtained', 'token.refreshed')");
            audited.ShouldBeGreaterThan(0, $"{dialect}, {name}: the upstream call's audit row");
            _world.Simulator.SetScript(account.Username, null);
        }

        // Through all of it the broker kept serving.
        var (healthy, healthyKey) = await AccountAsync(dialect);
        (await _world.Broker.TokenAsync(healthy.Name, healthyKey)).ShouldNotBeNullOrEmpty();
        _world.Logs.Lines.ShouldNotContain(l => l.Contains("Unhandled exception", StringComparison.Ordinal));
    }

    private async Task AssertRefusedOnceAsync(string dialect, ScriptedAnswer answer, string because, bool showsUpstreamWords = true)
    {
        var (account, key) = await AccountAsync(dialect);
        _world.Simulator.SetScript(account.Username, answer);
        for (var n = 0; n < 3; n++)
        {
            var (status, body) = await FetchAsync(account.Name, key);
            status.ShouldBe(HttpStatusCode.Conflict, $"{because}: {await LastErrorAsync(account.Name)}");
            body.ShouldContain("upstream-credentials-rejected", Case.Sensitive, because);
            body.ShouldNotContain(Marker, Case.Sensitive, because);
        }
        _world.Simulator.ScriptedAnswers(account.Username).ShouldBe(1, because);
        await AssertStateAsync(account, "needs_attention", because, showsUpstreamWords);
        (await AuditRowsAsync(account.Name, "action = 'token.obtained' AND outcome = 'credentials_rejected'")).ShouldBe(1, because);
    }

    /// <param name="showsUpstreamWords">The account's last_error quotes the upstream's text (the test's marker).</param>
    private async Task AssertStateAsync(TestAccount account, string state, string? because = null, bool showsUpstreamWords = false)
    {
        (await _world.ScalarAsync<string>("SELECT state FROM accounts WHERE name = $1", account.Name)).ShouldBe(state, because);
        var lastError = (await _world.ScalarAsync<object>("SELECT last_error FROM accounts WHERE name = $1", account.Name)).ShouldBeOfType<string>(because);
        SafeText.IsClean(lastError).ShouldBeTrue(because);
        lastError.Length.ShouldBeLessThanOrEqualTo(Limits.Detail, because);
        if (showsUpstreamWords)
            lastError.ShouldContain(Marker, Case.Sensitive, because); // the admin does see the upstream's words
    }

    /// <summary>What an admin reads about the account's last failure (for assertion messages).</summary>
    private async Task<string?> LastErrorAsync(string account) =>
        (await _world.AdminAsync(HttpMethod.Get, $"/admin/accounts/{account}"))["last_error"]?.GetValue<string>();

    private async Task<long> AuditRowsAsync(string account, string where) =>
        await _world.CountAsync($"account_name = $1 AND {where}", account);

    private static void AssertKnownAnswer(HttpStatusCode status, string body, string because)
    {
        ((int)status).ShouldNotBe(500, because);
        if (status == HttpStatusCode.OK) return;
        UpstreamProblemTypes.ShouldContain(t => body.Contains("errors/" + t + "\"", StringComparison.Ordinal), $"{because}: {body}");
    }

    private async Task<(TestAccount Account, string Key)> AccountAsync(string dialect)
    {
        var account = await _world.AccountAsync(dialect);
        return (account, await _world.ConsumerAsync(account.Name));
    }

    private async Task<(HttpStatusCode Status, string Body)> FetchAsync(string account, string key)
    {
        using var response = await _world.Broker.GetAsync($"/v1/accounts/{account}/token", key);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static int[] RefusalStatuses(string dialect) => dialect switch
    {
        DialectNames.SimpleJwt => [401, 400],
        DialectNames.OAuth2Password or DialectNames.OAuth2ClientCredentials => [400, 401],
        _ => [401, 403, 400],
    };
}
