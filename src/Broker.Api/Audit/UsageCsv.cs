using System.Globalization;
using System.Text;

namespace Broker.Api.Audit;

/// <summary>
/// The usage report as RFC 4180 CSV: one column per group_by key, then the counts. Keys can be names a caller
/// typed into a URL, so a key that a spreadsheet would run as a formula (=, +, -, @, tab, CR) gets a leading
/// apostrophe (OWASP's advice on CSV injection).
/// </summary>
public static class UsageCsv
{
    public static string Write(UsageReport report)
    {
        var csv = new StringBuilder();
        foreach (var key in report.GroupBy) csv.Append(key).Append(',');
        csv.Append("served,logins,refreshes,failures\r\n");
        foreach (var row in report.Rows)
        {
            foreach (var key in report.GroupBy) csv.Append(Field(row.Keys.GetValueOrDefault(key) ?? Missing(key))).Append(',');
            csv.Append(row.Served.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(row.Logins.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(row.Refreshes.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(row.Failures.ToString(CultureInfo.InvariantCulture)).Append("\r\n");
        }
        return csv.ToString();
    }

    /// <summary>
    /// A row without a client is the requests that failed before one was known (no key, an unknown one); without an
    /// account or provider, those that never got to one. A spreadsheet's empty cell would say none of that.
    /// </summary>
    private static string Missing(string key) => key switch
    {
        "client" => "(no client: failed before a client was known)",
        "account" => "(no account)",
        "provider" => "(no provider)",
        _ => "",
    };

    public static string Field(string? value)
    {
        if (string.IsNullOrEmpty(value)) return "";
        if (value[0] is '=' or '+' or '-' or '@' or '\t' or '\r') value = "'" + value;
        return value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }
}
