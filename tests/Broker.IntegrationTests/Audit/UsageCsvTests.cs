using Broker.Api.Audit;

namespace Broker.IntegrationTests.Audit;

/// <summary>The CSV of the usage report: RFC 4180 quoting, and no formula a spreadsheet would run.</summary>
public sealed class UsageCsvTests
{
    [Theory]
    [InlineData("svc-a", "svc-a")]
    [InlineData(null, "")]
    [InlineData("a,b", "\"a,b\"")]
    [InlineData("say \"hi\"", "\"say \"\"hi\"\"\"")]
    [InlineData("line\nbreak", "\"line\nbreak\"")]
    [InlineData("=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\"")]
    [InlineData("+1", "'+1")]
    [InlineData("-1", "'-1")]
    [InlineData("@sum", "'@sum")]
    public void Keys_are_quoted_when_needed_and_formulas_are_defused(string? key, string expected) =>
        UsageCsv.Field(key).ShouldBe(expected);

    [Fact]
    public void Report_has_one_column_per_grouping_key_and_one_crlf_terminated_line_per_row_and_labels_rows_without_a_client()
    {
        var report = new UsageReport(DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddDays(1), ["client", "account"],
            new UsageFilters(null, null, null, null),
            [
                new UsageRow(new Dictionary<string, string?> { ["client"] = "svc-a", ["account"] = "=acct" }, 10, 1, 2, 3),
                new UsageRow(new Dictionary<string, string?> { ["client"] = null, ["account"] = null }, 0, 0, 0, 4),
            ]);

        UsageCsv.Write(report).ShouldBe("client,account,served,logins,refreshes,failures\r\nsvc-a,'=acct,10,1,2,3\r\n" +
                                      "(no client: failed before a client was known),(no account),0,0,0,4\r\n");
    }
}
