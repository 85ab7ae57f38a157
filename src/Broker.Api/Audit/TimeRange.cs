using System.Globalization;
using Broker.Api.Admin;

namespace Broker.Api.Audit;

/// <summary>
/// The [from, to) range of an audit query or report: ISO 8601 times (a time without an offset is UTC), from
/// before to, and no longer than <c>Broker:Audit:MaxReportSpan</c>, so one request cannot scan the whole trail.
/// </summary>
public readonly record struct TimeRange(DateTimeOffset From, DateTimeOffset To)
{
    /// <summary>
    /// Reads from and to. A missing <paramref name="to"/> is <paramref name="defaultTo"/>; a missing
    /// <paramref name="from"/> is the longest span allowed before it, or an error when <paramref name="fromRequired"/>.
    /// </summary>
    public static TimeRange? Parse(string? from, string? to, bool fromRequired, DateTimeOffset defaultTo, TimeSpan maxSpan, FieldErrors errors)
    {
        var end = Time("to", to, errors) ?? defaultTo;
        var start = Time("from", from, errors);
        if (start is null && from is null)
        {
            if (fromRequired) errors.Add("from", "is required (an ISO 8601 time, e.g. 2026-01-01T00:00:00Z).");
            else start = end - maxSpan;
        }
        if (start is null || errors.Any) return null;

        if (start >= end) errors.Add("from", "must be before to.");
        else if (end - start > maxSpan) errors.Add("to", $"the range may span at most {maxSpan.TotalDays:0.##} days.");
        return errors.Any ? null : new TimeRange(start.Value, end);
    }

    private static DateTimeOffset? Time(string field, string? text, FieldErrors errors)
    {
        if (text is null) return null;
        if (text.Length <= 40 && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value))
            return value.ToUniversalTime();
        errors.Add(field, "must be an ISO 8601 time, e.g. 2026-01-01T00:00:00Z.");
        return null;
    }
}
