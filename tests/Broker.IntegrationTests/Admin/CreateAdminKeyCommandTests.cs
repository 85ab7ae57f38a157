using System.Net;
using System.Security.Cryptography;
using System.Text;
using Broker.Api.Auth;
using Broker.Domain;
using Broker.IntegrationTests.Deployment;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Admin;

/// <summary><c>Broker.Api create-admin-key</c>, run as the real executable against the test's database and broker.</summary>
public sealed class CreateAdminKeyCommandTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task The_printed_key_is_a_working_admin_key_stored_only_as_its_hash_and_audited()
    {
        var (exit, output, error) = await CreateAdminKeyAsync(_world.Settings, "--name", "ops");

        exit.ShouldBe(0, error);
        error.ShouldBeEmpty();
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        lines.Length.ShouldBe(2, output);
        lines[0].ShouldContain("will not be shown again");
        var key = lines[1];
        key.ShouldStartWith("brk_");

        using (var response = await _world.Broker.GetAsync("/admin/clients", key))
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await _world.AdminAsync(HttpMethod.Get, "/admin/clients/ops"))["role"]!.GetValue<string>().ShouldBe("admin");

        (await StoredKeyHashAsync("ops")).ShouldBe(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
        (await DatabaseDump.AllTablesAsync(_world.ConnectionString)).ShouldNotContain(key);

        var created = (await AuditRows.ReadAsync(_world, AuditActions.ClientCreated)).Where(r => r.Detail!.StartsWith("client ops")).ShouldHaveSingleItem();
        created.Client.ShouldBe(CreateAdminKeyCommand.Actor);
        created.Outcome.ShouldBe("ok");
        created.Detail!.ShouldStartWith("client ops (admin); by the create-admin-key command");
    }

    [Fact]
    public async Task A_name_that_is_taken_fails_with_a_one_line_error_and_changes_nothing()
    {
        await _world.AdminAsync(HttpMethod.Post, "/admin/clients", new { name = "ops", role = "consumer" }, HttpStatusCode.Created);
        var hashBefore = await StoredKeyHashAsync("ops");
        var auditBefore = await AuditRows.ReadAsync(_world, "client.%");

        var (exit, output, error) = await CreateAdminKeyAsync(_world.Settings, "--name", "ops");

        exit.ShouldBe(1);
        output.ShouldBeEmpty();
        error.ShouldBe("error: a client named 'ops' exists already (a consumer); choose another name, such as 'ops-2'." + Environment.NewLine);
        (await StoredKeyHashAsync("ops")).ShouldBe(hashBefore);
        (await _world.AdminAsync(HttpMethod.Get, "/admin/clients"))["items"]!.AsArray().Count.ShouldBe(2); // the bootstrap admin and ops
        (await AuditRows.ReadAsync(_world, "client.%")).ShouldBe(auditBefore);
    }

    [Theory]
    [InlineData(new string[0], 2)]
    [InlineData(new[] { "--help" }, 0)]
    public async Task Without_a_name_it_prints_the_usage_and_only_help_succeeds(string[] arguments, int expectedExit)
    {
        var (exit, output, error) = await CreateAdminKeyAsync(_world.Settings, arguments);

        exit.ShouldBe(expectedExit);
        var usage = exit == 0 ? output : error;
        usage.ShouldContain("Usage: Broker.Api create-admin-key --name <client name>");
        if (exit != 0) error.ShouldStartWith("error: --name is required." + Environment.NewLine);
    }

    [Fact]
    public async Task A_setting_the_server_would_refuse_at_start_up_is_refused_before_anything_is_created()
    {
        var settings = new Dictionary<string, string?>(_world.Settings) { ["Broker:Tokens:LockTimeout"] = "00:00:00.001" };

        var (exit, output, error) = await CreateAdminKeyAsync(settings, "--name", "ops");

        exit.ShouldBe(1);
        output.ShouldBeEmpty();
        error.ShouldStartWith("error: ");
        error.ShouldContain("LockTimeout");
        (await _world.AdminAsync(HttpMethod.Get, "/admin/clients"))["items"]!.AsArray().Count.ShouldBe(1); // the bootstrap admin only
    }

    [Fact]
    public async Task An_unreachable_database_gives_a_one_line_error_and_a_non_zero_exit()
    {
        var settings = new Dictionary<string, string?>(_world.Settings)
        {
            ["ConnectionStrings:Broker"] = $"Host=127.0.0.1;Port={RepositoryFiles.FreePort()};Database=broker;Username=broker;Timeout=5",
        };

        var (exit, output, error) = await CreateAdminKeyAsync(settings, "--name", "ops");

        exit.ShouldBe(1);
        output.ShouldBeEmpty();
        error.ShouldStartWith("error: cannot reach the database: ");
        error.TrimEnd().ShouldNotContain('\n');
    }

    private static Task<(int ExitCode, string Output, string Error)> CreateAdminKeyAsync(
        IReadOnlyDictionary<string, string?> settings, params string[] arguments) =>
        BrokerProcess.RunCommandAsync(settings, [CreateAdminKeyCommand.Command, .. arguments]);

    private Task<byte[]> StoredKeyHashAsync(string client) => _world.ScalarAsync<byte[]>("SELECT key_hash FROM clients WHERE name = $1", client);
}
