using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Deployment;

/// <summary>
/// The real process started with a setting it cannot run with: it exits 1 and says, in one line and without a stack
/// trace, which setting (as written in configuration), its value and what it must be. Options are checked before
/// the database is opened, so the database here is one that does not exist.
/// </summary>
[Trait(Slow.Category, Slow.Name)]
public sealed class StartupSettingsTests
{
    private static Dictionary<string, string?> Valid() => new()
    {
        ["ConnectionStrings:Broker"] = "Host=127.0.0.1;Port=1;Database=none;Username=none;Password=none",
        ["Broker:KeyEncryption:Key"] = BrokerWorld.KeyEncryptionKey,
    };

    [Theory]
    [InlineData("Broker:Tokens:ClockSkew", "01:00:00", "it is \"01:00:00\" and must be between 00:00:00 and 00:10:00.")] // out of range
    [InlineData("Broker:Upstream:LoginRetries", "9", "it is \"9\" and must be between 0 and 5.")] // out of range, a number
    [InlineData("Broker:Tokens:ClockSkew", "soon", "it is \"soon\" and must be a duration")] // not of its type
    [InlineData("Broker:PublicBaseUrl", "not-a-url", "it is \"not-a-url\" and must be an absolute http or https URL")] // not a URL
    [InlineData("Broker:Tokens:MaxConcurrentRenewals", "51", "must be at most half of the connection pool (Maximum Pool Size 100")] // against another setting
    public async Task Invalid_setting_is_one_line_naming_it_its_value_and_its_range_and_exit_code_1(string setting, string value, string says)
    {
        var settings = Valid();
        settings[setting] = value;

        var (exitCode, output, error) = await BrokerProcess.RunCommandAsync(settings);

        exitCode.ShouldBe(1, output + error);
        var line = OnlyLine(output + error);
        line.ShouldStartWith($"Invalid setting {setting} (environment variable {setting.Replace(":", "__")}): ");
        line.ShouldContain(says);
    }

    [Fact]
    public async Task Missing_key_encryption_key_in_production_is_one_line_naming_the_setting_and_exit_code_1()
    {
        var settings = Valid();
        settings.Remove("Broker:KeyEncryption:Key");

        var (exitCode, output, error) = await BrokerProcess.RunCommandAsync(settings);

        exitCode.ShouldBe(1, output + error);
        OnlyLine(output + error).ShouldStartWith("No key-encryption key: set Broker__KeyEncryption__Key");
    }

    [Fact]
    public async Task Database_that_cannot_be_reached_is_one_line_naming_where_without_the_password_and_exit_code_1()
    {
        var settings = Valid();
        settings["ConnectionStrings:Broker"] = "Host=127.0.0.1;Port=1;Database=brokerdb;Username=brokeruser;Password=hunter2-not-shown";

        var (exitCode, output, error) = await BrokerProcess.RunCommandAsync(settings);

        exitCode.ShouldBe(1, output + error);
        var line = OnlyLine(output + error);
        line.ShouldStartWith("Cannot use the database brokeruser@127.0.0.1:1/brokerdb (ConnectionStrings:Broker, environment variable ConnectionStrings__Broker): ");
        line.ShouldNotContain("hunter2");
    }

    private static string OnlyLine(string printed)
    {
        var lines = printed.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        printed.ShouldNotContain("   at ", customMessage: "a stack trace was printed");
        printed.ShouldNotContain("Exception", customMessage: "an exception was printed");
        lines.Length.ShouldBe(1, printed);
        return lines[0];
    }
}
