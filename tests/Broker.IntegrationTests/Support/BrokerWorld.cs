using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Broker.Simulator;

namespace Broker.IntegrationTests.Support;

/// <summary>
/// Everything a test needs, all real: a PostgreSQL database of its own, the provider simulator on a Kestrel port,
/// and one or more broker instances sharing the database, all on one manual clock the test moves.
/// </summary>
public sealed class BrokerWorld : IAsyncDisposable
{
    public const string AdminKey = "test-admin-key-0123456789abcdef-0123456789abcdef";
    public static readonly string KeyEncryptionKey = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private readonly Dictionary<string, string> _providers = new();
    private int _accounts;

    private readonly PostgresServer _server;

    private BrokerWorld(PostgresServer server, string connectionString, ManualTimeProvider clock, SimulatorHost simulator, LogSink logs, Dictionary<string, string?> settings)
    {
        _server = server;
        ConnectionString = connectionString;
        Clock = clock;
        SimulatorHost = simulator;
        Logs = logs;
        Settings = settings;
    }

    public string ConnectionString { get; }
    public ManualTimeProvider Clock { get; }
    public SimulatorHost SimulatorHost { get; }
    public SimulatorState Simulator => SimulatorHost.State;
    public LogSink Logs { get; }
    public Dictionary<string, string?> Settings { get; }
    public List<BrokerHost> Brokers { get; } = [];
    public BrokerHost Broker => Brokers[0];

    /// <summary>Every secret the test handed the broker, for the scans that must not find them.</summary>
    public List<string> Secrets { get; } = [];

    /// <param name="settings">Added to the world's settings; a null value removes one of its defaults.</param>
    public static async Task<BrokerWorld> StartAsync(int brokers = 1, IReadOnlyDictionary<string, string?>? settings = null,
        PostgresServer? server = null, TimeProvider? simulatorClock = null)
    {
        server ??= await PostgresServer.SharedAsync();
        var connectionString = await server.CreateDatabaseAsync();
        // Start at the real time: Data Protection's key ring keeps its own dates.
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var simulator = await SimulatorHost.StartAsync(simulatorClock ?? clock);
        var all = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Broker"] = connectionString,
            ["Broker:KeyEncryption:Key"] = KeyEncryptionKey,
            ["Broker:Bootstrap:AdminKey"] = AdminKey,
            // Tests that count upstream calls move the clock by hand; the background refresh would race them.
            // The tests of the background refresh switch it on.
            ["Broker:AheadOfTime:Enabled"] = "false",
            // The hosts run as Production, where Swagger is served only when configured.
            ["Broker:Swagger:Enabled"] = "true",
            // The simulator listens on plain http on loopback, which the broker refuses unless allowed.
            ["Broker:Upstream:AllowedNetworks:0"] = "127.0.0.0/8",
            ["Broker:Upstream:AllowedNetworks:1"] = "::1/128",
            ["Broker:Upstream:AllowPlainHttp:0"] = "*",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            if (value is null) all.Remove(key);
            else all[key] = value;
        }

        var world = new BrokerWorld(server, connectionString, clock, simulator, new LogSink(), all);
        for (var i = 0; i < brokers; i++) await world.AddBrokerAsync();
        return world;
    }

    /// <param name="configure">This host's own additions (see <see cref="BrokerHost.StartAsync"/>).</param>
    public async Task<BrokerHost> AddBrokerAsync(Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder>? configure = null)
    {
        var host = await BrokerHost.StartAsync(Settings, Clock, Logs, configure);
        Brokers.Add(host);
        return host;
    }

    /// <summary>
    /// Stops every broker host and starts one again with the current <see cref="Settings"/> (a restart, e.g. with
    /// new keys). The stopped hosts' admin responses are scanned for secrets first, as they go with the hosts.
    /// </summary>
    public async Task RestartBrokersAsync()
    {
        SecretsInAdminResponses().ShouldBeEmpty();
        foreach (var broker in Brokers) await broker.DisposeAsync();
        Brokers.Clear();
        await AddBrokerAsync();
    }

    /// <summary>One account per dialect, each with a consumer key and a token fetched, so its secrets are stored.</summary>
    public async Task<List<(TestAccount Account, string ApiKey, string Token)>> StoredTokensAsync(params string[] dialects)
    {
        var stored = new List<(TestAccount, string, string)>();
        foreach (var dialect in dialects)
        {
            var account = await AccountAsync(dialect);
            var key = await ConsumerAsync(account.Name);
            stored.Add((account, key, await Broker.TokenAsync(account.Name, key)));
        }
        return stored;
    }

    public async Task<JsonObject> AdminAsync(HttpMethod method, string path, object? body = null, HttpStatusCode expect = HttpStatusCode.OK)
    {
        using var response = await Broker.SendAsync(Broker.Request(method, path, AdminKey, body is null ? null : JsonContent.Create(body, options: Json)));
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expect, text);
        return text.Length == 0 ? new JsonObject() : JsonNode.Parse(text) as JsonObject ?? new JsonObject { ["items"] = JsonNode.Parse(text) };
    }

    /// <summary>The provider of a dialect on the simulator, created on first use.</summary>
    public async Task<string> ProviderAsync(string dialect)
    {
        if (_providers.TryGetValue(dialect, out var existing)) return existing;
        _providers[dialect] = await NewProviderAsync(dialect, $"sim-{dialect}");
        return _providers[dialect];
    }

    /// <summary>
    /// A provider of the dialect of its own (its own circuit breaker), for a test that makes the upstream fail in a
    /// world that other tests share.
    /// </summary>
    public async Task<string> NewProviderAsync(string dialect, string? name = null)
    {
        name ??= $"sim-{dialect}-{Interlocked.Increment(ref _accounts)}";
        var path = dialect switch
        {
            "sliderule" => "api/org_token/",
            "simplejwt" => "api/v3/accounts/token/obtain/",
            "keycloak" => "get-token",
            _ => "o/token/",
        };
        await AdminAsync(HttpMethod.Post, "/admin/providers",
            new { name, dialect, token_url = new Uri(SimulatorHost.BaseAddress, path).ToString() }, HttpStatusCode.Created);
        return name;
    }

    /// <summary>A new upstream user on the simulator and a broker account for it. Returns the account name.</summary>
    /// <param name="provider">The provider to use (<see cref="NewProviderAsync"/>); the dialect's shared one when null.</param>
    public async Task<TestAccount> AccountAsync(string dialect, string? provider = null)
    {
        provider ??= await ProviderAsync(dialect);
        var n = Interlocked.Increment(ref _accounts);
        var account = new TestAccount($"{dialect}-{n}", $"user-{dialect}-{n}", $"pw-{Guid.NewGuid():N}", dialect);
        Secrets.Add(account.Password);
        object body;
        switch (dialect)
        {
            case "oauth2-client-credentials":
                var secret = $"cs-{Guid.NewGuid():N}";
                Secrets.Add(secret);
                Simulator.AddClient(account.Username, secret);
                body = new { name = account.Name, provider, client_id = account.Username, client_secret = secret };
                break;
            case "oauth2-password":
                var clientSecret = $"cs-{Guid.NewGuid():N}";
                Secrets.Add(clientSecret);
                Simulator.AddClient($"client-{n}", clientSecret);
                Simulator.AddUser(account.Username, account.Password);
                body = new { name = account.Name, provider, username = account.Username, password = account.Password, client_id = $"client-{n}", client_secret = clientSecret };
                break;
            default:
                Simulator.AddUser(account.Username, account.Password, "UofMDTest");
                body = new { name = account.Name, provider, username = account.Username, password = account.Password, org_name = dialect == "sliderule" ? "UofMDTest" : null };
                break;
        }
        await AdminAsync(HttpMethod.Post, "/admin/accounts", body, HttpStatusCode.Created);
        return account;
    }

    /// <summary>A consumer client granted the given accounts. Returns its API key.</summary>
    public async Task<string> ConsumerAsync(params string[] accounts)
    {
        var created = await AdminAsync(HttpMethod.Post, "/admin/clients",
            new { name = $"svc-{Guid.NewGuid():N}"[..20], role = "consumer", accounts }, HttpStatusCode.Created);
        return created["api_key"]!.GetValue<string>();
    }

    /// <summary>
    /// A client with the given role and grants. Returns its API key, which is kept among <see cref="Secrets"/>: it is
    /// shown in the create answer (which the scan allows) and in no other answer.
    /// </summary>
    public async Task<string> ClientAsync(string name, string role = "consumer", string[]? accounts = null, string[]? providers = null)
    {
        var created = await AdminAsync(HttpMethod.Post, "/admin/clients", new { name, role, accounts, providers }, HttpStatusCode.Created);
        var key = created["api_key"]!.GetValue<string>();
        Secrets.Add(key);
        return key;
    }

    /// <summary>Every /admin response body of this test, from every broker host.</summary>
    public IEnumerable<string> AdminResponses => Brokers.SelectMany(b => b.AdminResponses);

    /// <summary>The secrets of <see cref="Secrets"/> that some admin response contained (none, or it is a leak).</summary>
    public List<string> SecretsInAdminResponses() =>
        Secrets.Where(secret => AdminResponses.Any(body => body.Contains(secret, StringComparison.Ordinal))).ToList();

    public async ValueTask DisposeAsync()
    {
        foreach (var broker in Brokers) await broker.DisposeAsync();
        await SimulatorHost.DisposeAsync();
        _server.DropDatabaseLater(ConnectionString);
        // Every test that uses a world is also a scan of its admin responses for the secrets it handed over.
        var leaked = SecretsInAdminResponses();
        if (leaked.Count > 0)
            throw new InvalidOperationException($"{leaked.Count} secret(s) handed to the broker came back in an admin response.");
    }
}

public sealed record TestAccount(string Name, string Username, string Password, string Dialect)
{
    /// <summary>The simulator's counters are per upstream user; client credentials count by client id.</summary>
    public string UpstreamUser => Username;
}
