using CsCheck;

namespace Broker.UnitTests.Support;

/// <summary>Generators of the text an attacker sends: broken UTF-16, invisible and reordering characters, NUL.</summary>
public static class HostileText
{
    /// <summary>Pieces strings are built from: each is one hazard (or plain text between them).</summary>
    public static readonly string[] Atoms =
    [
        "a", "Z", "0", "-", ".", "_", " ", "/", "%", "'", "\"", "\\", "{", "}", "<", ">", "名",
        "😀",             // a surrogate pair
        "👩‍👩‍👧",           // a ZWJ sequence: one grapheme of several pairs
        "🇫🇷",             // a flag: two regional indicators
        "\ud800",         // lone high surrogate
        "\udfff",         // lone low surrogate
        "e\u0301",        // a combining mark
        "\u0301\u0301\u0301",
        "\u202e", "\u202a", "\u2066", "\u2067", "\u2068", "\u2069", "\u200f", // bidi controls
        "\0", "\ufeff", "\u0085", "\u2028", "\u001b[31m", "\r\n", "\t", "\u007f", "\ufffe", "\uffff",
    ];

    /// <summary>A string of hazards up to <paramref name="maxAtoms"/> pieces long.</summary>
    public static Gen<string> Strings(int maxAtoms) => Gen.OneOf(Atoms).Array[0, maxAtoms].Select(string.Concat);

    /// <summary>A hazard placed at a chosen UTF-16 offset of plain text: what lands on a cut.</summary>
    public static string At(int offset, string hazard, int totalLength) =>
        new string('a', Math.Max(0, offset)) + hazard + new string('b', Math.Max(0, totalLength - offset - hazard.Length));
}
