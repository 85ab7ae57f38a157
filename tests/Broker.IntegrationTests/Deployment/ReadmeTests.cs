using System.Text.RegularExpressions;
using Broker.Infrastructure.Security;

namespace Broker.IntegrationTests.Deployment;

/// <summary>What the README tells a newcomer agrees with what the broker and its scripts do.</summary>
public sealed partial class ReadmeTests
{
    private static readonly string Readme = RepositoryFiles.Read("README.md");

    [Fact]
    public void The_admin_key_placeholder_matches_every_key_the_readme_says_prints_one()
    {
        var placeholder = AdminKeyPlaceholder().Match(Readme);
        placeholder.Success.ShouldBeTrue("README sets ADMIN_KEY=<prefix>...");
        var prefix = placeholder.Groups[1].Value;

        ApiKeys.New().ShouldStartWith(prefix, customMessage: "create-admin-key prints keys of ApiKeys.New()");
        RepositoryFiles.Read("run.sh").ShouldContain($"echo \"{prefix}");
        RepositoryFiles.Read("scripts/demo.sh").ShouldContain($"admin_key=\"{prefix}");
    }

    [Fact]
    public void Stopping_and_state_says_what_is_left_running_and_when_counts_appear()
    {
        var section = Readme[Readme.IndexOf("## Stopping and state", StringComparison.Ordinal)..];
        section = section[..section.IndexOf("\n## ", 5, StringComparison.Ordinal)];

        section.ShouldContain("scripts/local-postgres.sh stop");
        section.ShouldContain("BROKER_DEMO_DIR");
        section.ShouldContain("served");
        section.ShouldContain("refused");
    }

    [GeneratedRegex(@"ADMIN_KEY=(\S+?)\.\.\.")]
    private static partial Regex AdminKeyPlaceholder();
}
