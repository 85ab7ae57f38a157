using System.Text.RegularExpressions;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Deployment;

/// <summary>
/// Docker cannot run here, so compose.yaml and the Dockerfile are checked for what can go wrong without it:
/// settings the broker does not read, paths that do not exist, a health check that does not work. The
/// configuration reference is held to the same list of settings.
/// </summary>
public sealed partial class DeploymentFilesTests
{
    // Read by the host or the runtime image rather than bound by the broker.
    private static readonly HashSet<string> HostSettings = ["ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_ENVIRONMENT"];

    [Fact]
    public void Compose_gives_the_broker_only_settings_it_reads()
    {
        var environment = Environment(Service(RepositoryFiles.Read("compose.yaml"), "broker"));

        environment.Keys.ShouldContain("ConnectionStrings__Broker");
        environment.Keys.ShouldContain("Broker__KeyEncryption__KeyFile");
        foreach (var name in environment.Keys.Where(n => !HostSettings.Contains(n)))
        {
            var key = IndexSuffix().Replace(name, "").Replace("__", ":");
            KnownSettings.Keys.ShouldContain(key, $"compose.yaml sets {name}, which the broker does not read");
        }
    }

    [Fact]
    public void Compose_reads_the_key_encryption_key_from_the_secret_it_mounts()
    {
        var compose = RepositoryFiles.Read("compose.yaml");
        var broker = Service(compose, "broker");

        var keyFile = Environment(broker)["Broker__KeyEncryption__KeyFile"];
        keyFile.ShouldStartWith("/run/secrets/");
        var secret = keyFile["/run/secrets/".Length..];
        broker.ShouldContain($"      - {secret}");
        TopLevel(compose, "secrets").ShouldContain($"  {secret}:");
        Service(compose, "postgres").ShouldContain("healthcheck:");
        Service(compose, "migrate").ShouldContain("condition: service_healthy");
        broker.ShouldContain("condition: service_completed_successfully");
        Service(compose, "simulator").ShouldContain("profiles: [demo]");
    }

    [Fact]
    public void Dockerfile_uses_paths_that_exist_and_runs_the_assemblies_it_publishes()
    {
        var lines = RepositoryFiles.Read("Dockerfile").Split('\n').Select(l => l.Trim()).ToList();

        var copies = lines.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from=")).ToList();
        copies.ShouldNotBeEmpty();
        foreach (var copy in copies)
        {
            var parts = copy.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Where(p => !p.StartsWith("--", StringComparison.Ordinal)).ToList();
            foreach (var source in parts.SkipLast(1))
                (File.Exists(RepositoryFiles.PathOf(source)) || Directory.Exists(RepositoryFiles.PathOf(source))).ShouldBeTrue($"{copy}: {source} does not exist");
        }

        var projects = lines.SelectMany(l => ProjectPath().Matches(l)).Select(m => m.Value).Distinct().ToList();
        projects.ShouldContain("src/Broker.Api/Broker.Api.csproj");
        foreach (var project in projects)
        {
            File.Exists(RepositoryFiles.PathOf(project)).ShouldBeTrue($"{project} does not exist");
            File.ReadAllText(RepositoryFiles.PathOf(project)).ShouldNotContain("<AssemblyName>", customMessage: $"{project} renames its assembly");
        }
        var published = projects.Select(p => Path.GetFileNameWithoutExtension(p) + ".dll").ToHashSet();
        var entryPoints = lines.Where(l => l.StartsWith("ENTRYPOINT", StringComparison.Ordinal)).SelectMany(l => Dll().Matches(l)).Select(m => m.Value).ToList();
        entryPoints.ShouldContain("Broker.Api.dll");
        entryPoints.ShouldAllBe(dll => published.Contains(dll));
        lines.ShouldContain(l => l.StartsWith("USER ", StringComparison.Ordinal) && !l.Contains("root"));
    }

    [Fact]
    public async Task Health_check_script_passes_for_a_ready_broker_and_fails_for_a_closed_port()
    {
        var script = RepositoryFiles.PathOf("deploy/healthcheck.sh");
        (await RepositoryFiles.RunAsync("bash", ["-n", script], TimeSpan.FromSeconds(30))).ExitCode.ShouldBe(0);
        RepositoryFiles.Read("Dockerfile").ShouldContain("deploy/healthcheck.sh");
        await using var world = await BrokerWorld.StartAsync();

        var ready = await RepositoryFiles.RunAsync("bash", [script, world.Broker.BaseAddress.Port.ToString()], TimeSpan.FromSeconds(30));
        var closed = await RepositoryFiles.RunAsync("bash", [script, RepositoryFiles.FreePort().ToString()], TimeSpan.FromSeconds(30));

        ready.ExitCode.ShouldBe(0, ready.Error);
        closed.ExitCode.ShouldNotBe(0);
    }

    [Fact]
    public void Configuration_reference_names_every_setting_with_its_environment_variable()
    {
        var reference = RepositoryFiles.Read("docs/configuration.md");

        var missing = KnownSettings.All.Select(s => s.EnvName).Where(env => !reference.Contains($"`{env}`", StringComparison.Ordinal)).ToList();

        KnownSettings.All.Count.ShouldBeGreaterThan(20);
        missing.ShouldBeEmpty("docs/configuration.md lacks these settings");
    }

    /// <summary>The lines of a top-level section (<c>services:</c>, <c>secrets:</c>) of a compose file.</summary>
    private static string TopLevel(string compose, string name) => Block(compose.Split('\n'), $"{name}:", indent: 0);

    /// <summary>The lines of one service of a compose file.</summary>
    private static string Service(string compose, string name) =>
        Block(TopLevel(compose, "services").Split('\n'), $"{name}:", indent: 2);

    private static string Block(IEnumerable<string> lines, string header, int indent)
    {
        var prefix = new string(' ', indent);
        var block = lines.SkipWhile(l => l.TrimEnd() != prefix + header).ToList();
        block.ShouldNotBeEmpty($"no '{header}' at indent {indent}");
        return string.Join('\n', block.Skip(1).TakeWhile(l => l.Trim().Length == 0 || l.Trim().StartsWith('#') || Indent(l) > indent));
    }

    private static Dictionary<string, string> Environment(string service)
    {
        var lines = service.Split('\n');
        var start = Array.FindIndex(lines, l => l.Trim() == "environment:");
        start.ShouldBeGreaterThanOrEqualTo(0, "the service has no environment");
        var indent = Indent(lines[start]);
        return lines.Skip(start + 1)
            .TakeWhile(l => l.Trim().Length == 0 || Indent(l) > indent)
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split(':', 2))
            .ToDictionary(kv => kv[0].Trim(), kv => kv[1].Trim().Trim('"'));
    }

    private static int Indent(string line) => line.Length - line.TrimStart().Length;

    [GeneratedRegex(@"__\d+$")]
    private static partial Regex IndexSuffix();

    [GeneratedRegex(@"[\w./-]+\.csproj")]
    private static partial Regex ProjectPath();

    [GeneratedRegex(@"[\w.]+\.dll")]
    private static partial Regex Dll();
}
