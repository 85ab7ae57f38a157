using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Broker.Domain;

/// <summary>
/// The one way text from outside the process (callers, upstreams, the database) is shortened and cleaned before it
/// is stored, logged, audited or shown. It never throws, and what it returns is valid UTF-16 that encodes to UTF-8
/// strictly and that PostgreSQL <c>text</c> can hold: a string cut in the middle of a surrogate pair makes Npgsql
/// throw while encoding, and a NUL makes PostgreSQL refuse the row.
/// </summary>
/// <remarks>
/// Every replacement is one UTF-16 unit for one UTF-16 unit, so the result is the input's prefix with some units
/// replaced (by U+FFFD or a space), plus "…" when it was cut.
/// </remarks>
public static class SafeText
{
    public const char Replacement = '\uFFFD';
    public const char Ellipsis = '…';

    // A grapheme longer than this (a letter under a pile of combining marks) is cut on a code point instead: kept
    // whole it could take the whole budget.
    private const int LongestKeptGrapheme = 32;

    /// <summary>
    /// The text cleaned and, when longer than <paramref name="maxLength"/> UTF-16 units, cut on a grapheme (else a
    /// code point) boundary with "…" at the end. Lone surrogates and NUL become U+FFFD. When
    /// <paramref name="oneLine"/> (log lines, audit columns, problem details), line breaks and tabs become spaces, and
    /// other control characters and bidirectional overrides and isolates (which can make a log line read as something
    /// else) become U+FFFD.
    /// </summary>
    [return: NotNullIfNotNull(nameof(text))]
    public static string? Shorten(string? text, int maxLength, bool oneLine = true)
    {
        if (text is null) return null;
        if (maxLength <= 0) return "";
        var cut = text.Length > maxLength;
        if (!cut) return Clean(text, oneLine);
        // Only what can be kept is cleaned, and enough beyond it to see where the grapheme at the cut ends.
        var kept = Clean(text.AsSpan(0, Math.Min(text.Length, maxLength + LongestKeptGrapheme + 1)), oneLine);
        return kept[..CutPoint(kept, maxLength - 1)] + Ellipsis;
    }

    /// <summary>The text cleaned as by <see cref="Shorten"/>, at its full length.</summary>
    [return: NotNullIfNotNull(nameof(text))]
    public static string? Clean(string? text, bool oneLine = true) =>
        text is null || IsClean(text, oneLine) ? text : Clean(text.AsSpan(), oneLine); // clean text: no copy

    /// <summary>True when <see cref="Clean(string?, bool)"/> would return the text unchanged.</summary>
    public static bool IsClean(string text, bool oneLine = true)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (Replace(text.AsSpan(), i, oneLine) is not null) return false;
            if (char.IsHighSurrogate(text[i])) i++; // a valid pair: skip its low half
        }
        return true;
    }

    private static string Clean(ReadOnlySpan<char> text, bool oneLine)
    {
        var first = -1;
        for (var i = 0; i < text.Length; i++)
        {
            if (Replace(text, i, oneLine) is not null)
            {
                first = i;
                break;
            }
            if (char.IsHighSurrogate(text[i])) i++;
        }
        if (first < 0) return text.ToString();

        var chars = text.ToArray();
        for (var i = first; i < chars.Length; i++)
        {
            if (Replace(text, i, oneLine) is { } replacement) chars[i] = replacement;
            else if (char.IsHighSurrogate(chars[i])) i++;
        }
        return new string(chars);
    }

    /// <summary>What the unit at <paramref name="i"/> must become, or null when it stays (a high surrogate that
    /// stays starts a valid pair).</summary>
    private static char? Replace(ReadOnlySpan<char> text, int i, bool oneLine)
    {
        var c = text[i];
        if (char.IsHighSurrogate(c))
            return i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? null : Replacement;
        if (char.IsLowSurrogate(c)) return Replacement; // a valid pair's low half is skipped by the callers
        if (c == '\0') return Replacement;
        if (!oneLine) return null;
        if (c is '\t' or '\n' or '\r' or '\u2028' or '\u2029' or '\u0085') return ' ';
        if (char.IsControl(c) || IsBidiControl(c)) return Replacement;
        return null;
    }

    // LRE, RLE, PDF, LRO, RLO and LRI, RLI, FSI, PDI: they reorder how the rest of a line is displayed.
    private static bool IsBidiControl(char c) => c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069';

    /// <summary>The longest prefix of at most <paramref name="budget"/> units that ends on a grapheme boundary
    /// (or, inside an overlong grapheme, on a code point boundary).</summary>
    private static int CutPoint(string text, int budget)
    {
        var end = 0;
        while (end < text.Length)
        {
            var length = StringInfo.GetNextTextElementLength(text, end);
            if (length <= 0) break;
            if (end + length <= budget)
            {
                end += length;
                continue;
            }
            if (length > LongestKeptGrapheme)
            {
                // Inside an overlong grapheme: whole code points while they fit.
                while (end < budget)
                {
                    var step = char.IsHighSurrogate(text[end]) && end + 1 < text.Length && char.IsLowSurrogate(text[end + 1]) ? 2 : 1;
                    if (end + step > budget) break;
                    end += step;
                }
            }
            break;
        }
        return end;
    }
}
