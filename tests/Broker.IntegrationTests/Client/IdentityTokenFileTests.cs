using System.Net;
using Broker.Client;
using Broker.IntegrationTests.Identity;
using Broker.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Broker.IntegrationTests.Client;

/// <summary>
/// docs/consumers.md, "Workload identity: step by step": Broker.Client sends the token of an IdentityTokenFile instead
/// of a key, reads the file again when it changed (at most every IdentityTokenRecheck, by the container's clock) and
/// after the broker's 401, retrying once. Against a stand-in broker (what is sent), and once against a real one with a
/// Kubernetes-shaped token rotated as kubelet rotates it. No sleeps: the clock is moved by hand.
/// </summary>
public sealed class IdentityTokenFileTests : IAsyncLifetime
{
    private const string Account = "sliderule-prod";
    private readonly ManualTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly LogSink _logs = new();
    private readonly string _directory = Directory.CreateTempSubdirectory("broker-token-file-").FullName;
    private readonly List<string> _written = []; // every token a test wrote, for the log scan
    private FakeBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await FakeBroker.StartAsync(_clock);

    public async Task DisposeAsync()
    {
        await _broker.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private string TokenPath => Path.Combine(_directory, "token");

    /// <summary>A JWT-looking token, a little longer each generation.</summary>
    private string NewToken(int generation)
    {
        var token = $"eyJhbGciOiJSUzI1NiJ9.gen{generation}{new string('x', generation)}.{Guid.NewGuid():N}";
        _written.Add(token);
        return token;
    }

    /// <summary>Writes a new file and renames it over the old one (rename(2)), as a rotation does: a reader sees the old
    /// token or the new one, never half of one.</summary>
    private void Rotate(string content)
    {
        var staged = Path.Combine(_directory, $".token-{Guid.NewGuid():N}");
        File.WriteAllText(staged, content);
        File.Move(staged, TokenPath, overwrite: true);
    }

    private ServiceProvider Services(string? path = null, TimeSpan? recheck = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(_clock);
        services.AddLogging(logging => logging.AddProvider(_logs).SetMinimumLevel(LogLevel.Debug));
        services.AddBrokerTokenClient(o =>
        {
            o.BrokerUrl = _broker.BaseAddress;
            o.IdentityTokenFile = path ?? TokenPath;
            if (recheck is { } every) o.IdentityTokenRecheck = every;
        });
        services.AddHttpClient("upstream", c => c.BaseAddress = _broker.BaseAddress).AddBrokeredToken(Account);
        return services.BuildServiceProvider();
    }

    [Fact]
    public async Task The_token_files_content_trimmed_is_sent_as_the_bearer()
    {
        var token = NewToken(1);
        Rotate($"  {token}\n");
        _broker.Accept(token);
        await using var services = Services();

        var answer = await services.GetRequiredService<BrokerTokenClient>().GetTokenAsync(Account);

        answer.AccessToken.ShouldStartWith("upstream-");
        _broker.Bearers.ShouldBe([token]);
    }

    [Fact]
    public async Task A_rotated_file_is_sent_from_the_first_request_after_the_recheck_interval()
    {
        var (first, second) = (NewToken(1), NewToken(2));
        _broker.Accept(first);
        _broker.Accept(second);
        Rotate(first);
        await using var services = Services(); // the default recheck, 30 s
        var client = services.GetRequiredService<BrokerTokenClient>();
        await client.GetTokenAsync(Account);

        Rotate(second);
        _clock.Advance(TimeSpan.FromSeconds(29));
        await client.GetTokenAsync(Account); // within the interval: the file is not even looked at
        _clock.Advance(TimeSpan.FromSeconds(2));
        await client.GetTokenAsync(Account);
        await client.GetTokenAsync(Account);

        _broker.Bearers.ShouldBe([first, first, second, second]);
    }

    [Fact]
    public async Task A_kubelet_symlink_swap_is_seen_although_the_token_link_itself_never_changes()
    {
        using var projected = new ProjectedTokenDirectory();
        var (first, second) = (NewToken(1), NewToken(2));
        _broker.Accept(first);
        _broker.Accept(second);
        projected.Write(first);
        await using var services = Services(projected.TokenPath, recheck: TimeSpan.Zero);
        var client = services.GetRequiredService<BrokerTokenClient>();
        await client.GetTokenAsync(Account);

        projected.Write(second); // and the directory holding the first is gone
        await client.GetTokenAsync(Account);

        _broker.Bearers.ShouldBe([first, second]);
        _logs.Lines.ShouldContain(line => line.Contains("changed") && line.Contains(projected.TokenPath));
    }

    [Fact]
    public async Task A_401_from_the_broker_rereads_the_file_and_retries_once_with_the_new_token()
    {
        var (first, second) = (NewToken(1), NewToken(2));
        _broker.Accept(first);
        Rotate(first);
        await using var services = Services(recheck: TimeSpan.FromMinutes(10));
        var client = services.GetRequiredService<BrokerTokenClient>();
        await client.GetTokenAsync(Account);

        // Rotated, and the old token expired, long before the next check is due.
        Rotate(second);
        _broker.Refuse(first);
        _broker.Accept(second);
        var answer = await client.GetTokenAsync(Account);

        answer.AccessToken.ShouldStartWith("upstream-");
        _broker.Bearers.ShouldBe([first, first, second]);
        _logs.Lines.ShouldContain(line => line.Contains("refused the identity token") && line.Contains("retrying once"));

        await client.GetTokenAsync(Account);
        _broker.Bearers.Count.ShouldBe(4, "the token read after the 401 is the one used from then on");
        _broker.Bearers[^1].ShouldBe(second);
    }

    [Fact]
    public async Task A_401_to_the_files_only_token_is_the_answer_and_a_refused_new_token_is_not_tried_again()
    {
        var (first, second) = (NewToken(1), NewToken(2));
        Rotate(first); // the broker accepts neither token
        await using var services = Services();
        var client = services.GetRequiredService<BrokerTokenClient>();

        var error = await Should.ThrowAsync<BrokerTokenException>(() => client.GetTokenAsync(Account));
        error.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        error.ProblemType.ShouldBe("https://broker.dev/errors/identity-invalid");
        _broker.Bearers.ShouldBe([first], "the file still holds the refused token: nothing to retry with");

        Rotate(second);
        (await Should.ThrowAsync<BrokerTokenException>(() => client.GetTokenAsync(Account))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        _broker.Bearers.ShouldBe([first, first, second], "one retry, with the new token, then the 401 is the answer");
    }

    [Theory]
    [InlineData("brk_key", "/var/run/secrets/broker/token", 30, "ClientKey and IdentityTokenFile for account 'sliderule-prod' are both set")]
    [InlineData(null, null, 30, "ClientKey for account 'sliderule-prod' is required, or IdentityTokenFile instead")]
    [InlineData(" ", "", 30, "ClientKey for account 'sliderule-prod' is required, or IdentityTokenFile instead")]
    [InlineData(null, "/var/run/secrets/broker/token", 601, "IdentityTokenRecheck for account 'sliderule-prod' must be from 0 to 00:10:00")]
    [InlineData(null, "/var/run/secrets/broker/token", -1, "IdentityTokenRecheck for account 'sliderule-prod' must be from 0 to 00:10:00")]
    public void Key_and_file_both_or_neither_and_a_recheck_out_of_range_fail_at_start(string? key, string? file, int recheckSeconds, string expected)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHttpClient("upstream").AddBrokeredToken(Account, o =>
        {
            o.BrokerUrl = new Uri("https://broker.internal/");
            o.ClientKey = key;
            o.IdentityTokenFile = file;
            o.IdentityTokenRecheck = TimeSpan.FromSeconds(recheckSeconds);
        });
        using var provider = services.BuildServiceProvider();

        var message = Should.Throw<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate()).Message;

        message.ShouldContain(expected);
        if (!string.IsNullOrWhiteSpace(key)) message.ShouldNotContain(key, customMessage: "the key is never quoted");
    }

    [Fact]
    public async Task A_missing_empty_or_malformed_file_fails_naming_the_path_never_the_content()
    {
        var missing = Path.Combine(_directory, "not-yet", "token");
        await using var services = Services(missing, recheck: TimeSpan.Zero);
        // The file is not looked for at start: a sidecar (spire-agent, a CI step) may write it after the host starts.
        services.GetRequiredService<IStartupValidator>().Validate();
        var client = services.GetRequiredService<BrokerTokenClient>();

        var error = await Should.ThrowAsync<BrokerTokenException>(() => client.GetTokenAsync(Account));
        error.Message.ShouldContain($"{missing} does not exist");
        error.Account.ShouldBe(Account);

        await using var empty = Services(TokenPath, recheck: TimeSpan.Zero);
        Rotate(" \n\n");
        (await Should.ThrowAsync<BrokerTokenException>(() => empty.GetRequiredService<BrokerTokenClient>().GetTokenAsync(Account)))
            .Message.ShouldContain($"{TokenPath} is empty");

        var secret = NewToken(1);
        Rotate($"{secret} and-some-other-text\n");
        var malformed = await Should.ThrowAsync<BrokerTokenException>(() => empty.GetRequiredService<BrokerTokenClient>().GetTokenAsync(Account));
        malformed.Message.ShouldContain($"{TokenPath} does not hold a token");
        malformed.ToString().ShouldNotContain(secret);
        malformed.ToString().ShouldNotContain("and-some-other-text");

        _broker.Bearers.ShouldBeEmpty("nothing is sent without a token");
    }

    [Fact]
    public async Task Through_the_handler_a_rotation_and_a_401_log_the_path_but_never_a_token()
    {
        var (first, second) = (NewToken(1), NewToken(2));
        _broker.Accept(first);
        Rotate(first);
        await using var services = Services(recheck: TimeSpan.FromMinutes(10));
        var upstream = services.GetRequiredService<IHttpClientFactory>().CreateClient("upstream");
        (await upstream.GetAsync("/whoami")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // The upstream token runs out; meanwhile the identity token was rotated and the old one expired.
        Rotate(second);
        _broker.Refuse(first);
        _broker.Accept(second);
        _clock.Advance(FakeBroker.Lifetime);
        (await upstream.GetAsync("/whoami")).StatusCode.ShouldBe(HttpStatusCode.OK);

        _broker.Bearers.ShouldBe([first, first, second]);
        var lines = _logs.Lines;
        lines.ShouldContain(line => line.Contains(TokenPath) && line.Contains(Account) && line.Contains("retrying once"));
        foreach (var secret in _written.Concat(_broker.Issued))
            lines.ShouldNotContain(line => line.Contains(secret));
    }

    [Fact]
    public async Task A_projected_kubernetes_token_authenticates_at_a_real_broker_and_its_rotation_is_picked_up_after_the_401()
    {
        const string clusterIssuer = "https://kubernetes.default.svc.cluster.local";
        await using var world = await BrokerWorld.StartAsync();
        var cluster = new TokenSigner(clusterIssuer, "k1");
        await using var jwks = await JwksServer.StartAsync(cluster);
        var account = await world.AccountAsync("sliderule");
        await world.AdminAsync(HttpMethod.Post, "/admin/issuers",
            new { name = "prod-cluster", issuer = clusterIssuer, audience = "broker", jwks_uri = jwks.JwksUrl }, HttpStatusCode.Created);
        var created = await world.AdminAsync(HttpMethod.Post, "/admin/clients",
            new { name = "payments", role = "consumer", accounts = new[] { account.Name } }, HttpStatusCode.Created);
        world.Secrets.Add(created["api_key"]!.GetValue<string>());
        await world.AdminAsync(HttpMethod.Post, "/admin/clients/payments/identities",
            new { issuer = "prod-cluster", subject = "system:serviceaccount:payments:*" }, HttpStatusCode.Created);

        // expirationSeconds: 300; kubelet rotates at 80% of that.
        string Projected() => cluster.Mint(world.Clock.GetUtcNow(), "system:serviceaccount:payments:api", lifetime: TimeSpan.FromMinutes(5));
        using var projected = new ProjectedTokenDirectory();
        var first = Projected();
        projected.Write(first);

        var brokerRequests = new RequestRecorder();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(world.Clock);
        services.AddLogging(logging => logging.AddProvider(_logs).SetMinimumLevel(LogLevel.Debug));
        services.AddBrokerTokenClient(o =>
            {
                o.BrokerUrl = world.Broker.BaseAddress;
                o.IdentityTokenFile = projected.TokenPath;
                o.IdentityTokenRecheck = TimeSpan.FromMinutes(10); // so only the 401 can make it read the file again
            })
            .AddHttpMessageHandler(brokerRequests.Handler);
        services.AddHttpClient("sliderule", c => c.BaseAddress = world.SimulatorHost.BaseAddress).AddBrokeredToken(account.Name);
        await using var provider = services.BuildServiceProvider();
        var sliderule = provider.GetRequiredService<IHttpClientFactory>().CreateClient("sliderule");

        (await sliderule.GetAsync("/whoami")).StatusCode.ShouldBe(HttpStatusCode.OK);
        world.Clock.Advance(TimeSpan.FromMinutes(4));
        var second = Projected();
        projected.Write(second);
        world.Clock.Advance(TimeSpan.FromMinutes(2)); // the first token and the upstream token have both expired
        (await sliderule.GetAsync("/whoami")).StatusCode.ShouldBe(HttpStatusCode.OK);

        brokerRequests.Tokens.ShouldBe([first, first, second]);
        foreach (var token in new[] { first, second })
        {
            _logs.Lines.ShouldNotContain(line => line.Contains(token));
            world.Logs.Lines.ShouldNotContain(line => line.Contains(token));
        }
    }
}
