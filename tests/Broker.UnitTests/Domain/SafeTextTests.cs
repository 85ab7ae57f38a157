using System.Text;
using Broker.Domain;
using Broker.UnitTests.Support;
using CsCheck;

namespace Broker.UnitTests.Domain;

public sealed class SafeTextTests
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    [Fact]
    public void Shortened_text_is_valid_fits_and_is_the_input_with_replacements() =>
        Gen.Select(HostileText.Strings(400), Gen.Int[0, 600], Gen.Bool).Sample((text, max, oneLine) =>
        {
            var safe = SafeText.Shorten(text, max, oneLine);
            AssertSafe(text, safe, max, oneLine);
        }, iter: 20_000, seed: "0N0XIzNsQ0O2");

    [Fact]
    public void Every_hazard_at_every_offset_around_a_cut_is_handled()
    {
        foreach (var max in new[] { 1, 2, 3, 99, 100, 101, 200, 500 })
        foreach (var hazard in HostileText.Atoms)
        for (var offset = Math.Max(0, max - 5); offset <= max + 3; offset++)
        {
            var text = HostileText.At(offset, hazard, max + 10);
            AssertSafe(text, SafeText.Shorten(text, max), max, oneLine: true);
            AssertSafe(text, SafeText.Shorten(text, max, oneLine: false), max, oneLine: false);
        }
    }

    [Fact]
    public void The_reported_account_name_is_cut_before_the_emoji_not_inside_it()
    {
        var name = new string('a', 99) + "😀";
        var safe = SafeText.Shorten(name, 100);
        safe.ShouldBe(new string('a', 99) + "…");
        StrictUtf8.GetBytes(safe).Length.ShouldBeGreaterThan(0);
    }

    [Fact]
    public void Graphemes_are_kept_whole_when_cut()
    {
        SafeText.Shorten("ab" + "e\u0301" + "cd", 4).ShouldBe("ab…");
        SafeText.Shorten("x👩‍👩‍👧y", 6).ShouldBe("x…");
        // An overlong grapheme is cut between code points rather than dropped whole.
        SafeText.Shorten("e" + new string('\u0301', 100), 10).Length.ShouldBe(10);
    }

    [Fact]
    public void Short_clean_text_is_returned_as_is()
    {
        const string text = "an ordinary line, with ünïcödé and 😀";
        SafeText.Shorten(text, 100).ShouldBeSameAs(text);
        SafeText.IsClean(text).ShouldBeTrue();
        SafeText.Shorten(null, 10).ShouldBeNull();
    }

    [Fact]
    public void One_line_text_has_no_line_breaks_controls_or_bidi_overrides()
    {
        SafeText.Shorten("a\r\nb\tc", 100).ShouldBe("a  b c");
        SafeText.Shorten("a\0b\u202ec\u001bd", 100).ShouldBe("a\uFFFDb\uFFFDc\uFFFDd");
        SafeText.Shorten("a\nb\0", 100, oneLine: false).ShouldBe("a\nb\uFFFD");
        SafeText.IsClean("a\nb").ShouldBeFalse();
        SafeText.IsClean("a\nb", oneLine: false).ShouldBeTrue();
    }

    private static void AssertSafe(string input, string output, int max, bool oneLine)
    {
        output.Length.ShouldBeLessThanOrEqualTo(Math.Max(0, max));
        // Valid UTF-16: no lone surrogate, so strict UTF-8 encoding succeeds.
        Should.NotThrow(() => StrictUtf8.GetBytes(output));
        output.ShouldNotContain('\0');
        SafeText.IsClean(output, oneLine).ShouldBeTrue();

        var cut = input.Length > max;
        var body = cut && output.Length > 0 ? output[..^1] : output;
        if (cut && max > 0) output[^1].ShouldBe(SafeText.Ellipsis);
        if (!cut) output.Length.ShouldBe(input.Length);
        for (var i = 0; i < body.Length; i++)
        {
            if (body[i] != input[i])
                body[i].ShouldBeOneOf(SafeText.Replacement, ' ');
        }
    }
}
