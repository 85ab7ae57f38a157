using System.Globalization;
using System.Text;
using System.Xml;

namespace Broker.Api.Audit;

/// <summary>
/// The usage report drawn as a standalone SVG line chart: tokens served, refreshes and failures per hour (per day
/// over longer ranges), with axes, labels and a legend. Hand-written, with presentation attributes only (no CSS,
/// no script, nothing fetched), so it renders under the API's <c>default-src 'none'</c> policy. Every label that
/// came from outside (the filters) is escaped.
/// </summary>
public static class UsageChart
{
    /// <summary>Ranges up to this long are drawn per hour; longer ones per day.</summary>
    public static readonly TimeSpan LongestHourly = TimeSpan.FromDays(3);

    private const int Width = 960, Height = 440, Left = 72, Right = 24, Top = 76, Bottom = 64;
    private const int PlotWidth = Width - Left - Right, PlotHeight = Height - Top - Bottom;

    private static readonly (string Name, string Color, Func<UsageRow, long> Value)[] Series =
    [
        ("served", "#1f77b4", r => r.Served),
        ("refreshes", "#2ca02c", r => r.Refreshes),
        ("failures", "#d62728", r => r.Failures),
    ];

    /// <summary>Draws <paramref name="rows"/>, keyed by "hour" (yyyy-MM-ddTHH:00Z) or "day" (yyyy-MM-dd); missing buckets are zero.</summary>
    public static string Draw(TimeRange range, bool perHour, UsageFilters filters, IReadOnlyList<UsageRow> rows)
    {
        var step = perHour ? TimeSpan.FromHours(1) : TimeSpan.FromDays(1);
        var first = perHour
            ? new DateTimeOffset(range.From.Year, range.From.Month, range.From.Day, range.From.Hour, 0, 0, TimeSpan.Zero)
            : new DateTimeOffset(range.From.Date, TimeSpan.Zero);
        var buckets = new List<DateTimeOffset>();
        for (var b = first; b < range.To; b += step) buckets.Add(b);

        var byBucket = new Dictionary<DateTimeOffset, UsageRow>();
        foreach (var row in rows)
            if (row.Keys.Values.FirstOrDefault() is { } key && DateTimeOffset.TryParseExact(key, ["yyyy-MM-dd'T'HH':00Z'", "yyyy-MM-dd"],
                    CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
                byBucket[at] = row;

        var max = buckets.Select(b => byBucket.GetValueOrDefault(b)).OfType<UsageRow>()
            .SelectMany(r => Series.Select(s => s.Value(r))).DefaultIfEmpty(0).Max();
        var (top, tick) = Scale(max);
        double X(int i) => Left + (i + 0.5) * PlotWidth / buckets.Count;
        double Y(long v) => Top + PlotHeight - (double)v * PlotHeight / top;

        var svg = new StringBuilder();
        svg.Append(Invariant($"""<svg xmlns="http://www.w3.org/2000/svg" width="{Width}" height="{Height}" viewBox="0 0 {Width} {Height}" role="img" font-family="sans-serif">"""));
        var unit = perHour ? "hour" : "day";
        var title = $"Usage per {unit}, {range.From:yyyy-MM-dd HH:mm} to {range.To:yyyy-MM-dd HH:mm} UTC";
        svg.Append("<title>").Append(Text(title)).Append("</title>");
        svg.Append(Invariant($"""<rect x="0" y="0" width="{Width}" height="{Height}" fill="#ffffff"/>"""));
        svg.Append(Invariant($"""<text x="{Left}" y="26" font-size="17" font-weight="bold" fill="#222222">""")).Append(Text(title)).Append("</text>");
        svg.Append(Invariant($"""<text x="{Left}" y="48" font-size="13" fill="#555555">""")).Append(Text(Describe(filters))).Append("</text>");

        // Legend, top right.
        for (var s = 0; s < Series.Length; s++)
        {
            var x = Width - Right - 300 + s * 100;
            svg.Append(Invariant($"""<line x1="{x}" y1="{62}" x2="{x + 22}" y2="{62}" stroke="{Series[s].Color}" stroke-width="3"/>"""));
            svg.Append(Invariant($"""<text x="{x + 28}" y="66" font-size="13" fill="#222222">{Series[s].Name}</text>"""));
        }

        // Y axis: grid lines and counts.
        for (long v = 0; v <= top; v += tick)
        {
            var y = Y(v);
            svg.Append(Invariant($"""<line x1="{Left}" y1="{y:0.#}" x2="{Width - Right}" y2="{y:0.#}" stroke="#e3e3e3" stroke-width="1"/>"""));
            svg.Append(Invariant($"""<text x="{Left - 8}" y="{y + 4:0.#}" font-size="12" text-anchor="end" fill="#333333">{v}</text>"""));
        }
        svg.Append(Invariant($"""<text x="18" y="{Top + PlotHeight / 2}" font-size="13" text-anchor="middle" fill="#333333" transform="rotate(-90 18 {Top + PlotHeight / 2})">requests per {unit}</text>"""));

        // X axis: at most about eight labels, evenly spaced.
        var every = Math.Max(1, (int)Math.Ceiling(buckets.Count / 8.0));
        for (var i = 0; i < buckets.Count; i += every)
        {
            var label = perHour ? buckets[i].ToString("MM-dd HH:00", CultureInfo.InvariantCulture) : buckets[i].ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            svg.Append(Invariant($"""<line x1="{X(i):0.#}" y1="{Top + PlotHeight}" x2="{X(i):0.#}" y2="{Top + PlotHeight + 5}" stroke="#333333" stroke-width="1"/>"""));
            svg.Append(Invariant($"""<text x="{X(i):0.#}" y="{Top + PlotHeight + 20}" font-size="12" text-anchor="middle" fill="#333333">{label}</text>"""));
        }
        svg.Append(Invariant($"""<text x="{Left + PlotWidth / 2}" y="{Height - 14}" font-size="13" text-anchor="middle" fill="#333333">time (UTC)</text>"""));
        svg.Append(Invariant($"""<line x1="{Left}" y1="{Top}" x2="{Left}" y2="{Top + PlotHeight}" stroke="#333333" stroke-width="1"/>"""));
        svg.Append(Invariant($"""<line x1="{Left}" y1="{Top + PlotHeight}" x2="{Width - Right}" y2="{Top + PlotHeight}" stroke="#333333" stroke-width="1"/>"""));

        // The series: a line each, with a dot per bucket while there is room for dots.
        foreach (var (name, color, value) in Series)
        {
            var points = string.Join(" ", buckets.Select((b, i) => Invariant($"{X(i):0.#},{Y(byBucket.TryGetValue(b, out var r) ? value(r) : 0):0.#}")));
            svg.Append(Invariant($"""<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2" data-series="{name}"/>"""));
            if (buckets.Count > 96) continue;
            for (var i = 0; i < buckets.Count; i++)
                svg.Append(Invariant($"""<circle cx="{X(i):0.#}" cy="{Y(byBucket.TryGetValue(buckets[i], out var r) ? value(r) : 0):0.#}" r="2.5" fill="{color}"/>"""));
        }
        return svg.Append("</svg>").ToString();
    }

    /// <summary>An axis top of 1, 2 or 5 times a power of ten, at or above the largest count, in about five ticks.</summary>
    private static (long Top, long Tick) Scale(long max)
    {
        if (max <= 5) return (5, 1);
        var tick = 1L;
        while (true)
        {
            foreach (var m in new[] { 1L, 2L, 5L })
                if (tick * m * 5 >= max) return ((max + tick * m - 1) / (tick * m) * tick * m, tick * m);
            tick *= 10;
        }
    }

    private static string Describe(UsageFilters f)
    {
        var parts = new List<string>();
        if (f.Client is not null) parts.Add($"client {f.Client}");
        if (f.Account is not null) parts.Add($"account {f.Account}");
        if (f.Provider is not null) parts.Add($"provider {f.Provider}");
        if (f.Action is not null) parts.Add($"action {f.Action}");
        return parts.Count == 0 ? "All clients, accounts and providers" : string.Join(", ", parts);
    }

    /// <summary>Text safe inside an element: XML-escaped, and characters XML cannot hold replaced.</summary>
    public static string Text(string value)
    {
        var text = new StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1])) { text.Append(c).Append(value[++i]); continue; }
            text.Append(c switch
            {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ when XmlConvert.IsXmlChar(c) => c.ToString(),
                _ => "\uFFFD",
            });
        }
        return text.ToString();
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
