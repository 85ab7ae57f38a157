using System.Text;
using Broker.Domain;
using Broker.Infrastructure.Upstream.Dialects;
using Broker.UnitTests.Support;
using CsCheck;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.UnitTests.Dialects;

/// <summary>Every dialect maps any answer (hostile JSON text, lone surrogate escapes, hostile tokens) without throwing.</summary>
public sealed class HostileMappingTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    // JSON string contents with escapes an attacker may send: lone surrogates, NUL, bidi controls.
    private static readonly string[] JsonAtoms =
        ["a", " ", "😀", "\\ud800", "\\udfff", "\\ud83d\\ude00", "\\u0000", "\\u202e", "\\n", "\\\\", "\\\\ud800", "\\\"", "e\\u0301", "é"];

    private static readonly Gen<string> JsonText = Gen.OneOf(JsonAtoms).Array[0, 80].Select(string.Concat);

    private static readonly Gen<string> Bodies = Gen.OneOf(
        JsonText.Select(t => $"{{\"error\":\"invalid_grant\",\"error_description\":\"{t}\"}}"),
        JsonText.Select(t => $"{{\"detail\":\"{t}\",\"code\":\"{t}\"}}"),
        JsonText.Select(t => $"{{\"{t}\":[\"{t}\"]}}"),
        JsonText.Select(t => $"{{\"access\":\"{t}\",\"refresh\":\"{t}\",\"access_token\":\"{t}\",\"refresh_token\":\"{t}\",\"token_type\":\"{t}\",\"exp\":\"{t}\",\"expires_in\":\"{t}\"}}"),
        JsonText.Select(t => $"\"{t}\""),
        HostileText.Strings(60));

    [Fact]
    public void Any_answer_maps_to_an_outcome_whose_detail_is_safe_text() =>
        Gen.Select(Gen.OneOf(Enum.GetValues<Dialect>()), Gen.OneOf(200, 400, 401, 403, 404, 500), Bodies, Gen.Bool)
            .Sample((dialect, status, body, login) =>
            {
                var client = DialectClient.For(dialect);
                var provider = Providers.For(dialect);
                var outcome = login ? client.MapLogIn(status, body, Now, provider) : client.MapRefresh(status, body, Now, provider);
                Should.NotThrow(() => StrictUtf8.GetBytes(outcome.Detail));
                outcome.Detail.ShouldNotContain('\0');
                if (outcome is Granted granted)
                {
                    granted.Tokens.AccessToken.ShouldAllBe(c => c >= ' ' && c <= '~');
                    (granted.Tokens.RefreshToken ?? "").ShouldAllBe(c => c >= ' ' && c <= '~');
                    granted.Tokens.TokenType.Length.ShouldBeLessThanOrEqualTo(40);
                }
            }, iter: 5000, seed: "5Zc1m0Qk2Hn1");

    [Theory]
    [InlineData("no \\ud800 way", "no \uFFFD way")]
    [InlineData("a\\udfffb", "a\uFFFDb")]
    [InlineData("\\ud83d\\ude00", "😀")]
    [InlineData("\\\\ud800", "\\ud800")]
    [InlineData("\\ud83d\\u0041", "\uFFFDA")]
    [InlineData("x\\ud83d", "x\uFFFD")]
    public void A_refusal_with_lone_surrogate_escapes_is_still_a_refusal_and_reads_them_as_U_FFFD(string escaped, string read)
    {
        var outcome = DialectClient.For(Dialect.SimpleJwt).MapLogIn(401, $"{{\"detail\":\"{escaped}\"}}", Now, Providers.For(Dialect.SimpleJwt));
        outcome.ShouldBeOfType<CredentialsRejected>().Detail.ShouldBe(read);
    }

    [Theory]
    [InlineData("zqv\\u0000en")]
    [InlineData("zqv😀en")]
    [InlineData("zqv\\nen")]
    [InlineData("zqv\\u00e9n")]
    public void A_token_that_is_not_printable_ascii_is_a_protocol_error(string token)
    {
        var outcome = DialectClient.For(Dialect.Keycloak).MapLogIn(200, $"{{\"access_token\":\"{token}\",\"expires_in\":60}}", Now, Providers.For(Dialect.Keycloak));
        outcome.ShouldBeOfType<ProtocolError>().Detail.ShouldNotContain("zqv");
    }
}
