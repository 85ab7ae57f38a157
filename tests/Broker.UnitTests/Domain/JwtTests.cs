using Broker.Domain;

namespace Broker.UnitTests.Domain;

public sealed class JwtTests
{
    [Fact]
    public void The_exp_claim_of_the_seed_token_is_read_without_checking_the_signature()
    {
        // Progeny's sample access token (seed 002).
        const string token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjoxNjQ4NjYzOTQ3LCJqdGkiOiJhMjg3MmQ4ZmIzY2Y0NTVkYWE3ZmRiMWVmZmZjM2UzZSIsInVzZXJfaWQiOjQxfQ.L4GXorALzmFOuu-NnyumEY7SbQum4kCdAQJ3QolGbqc";
        Jwt.TryReadExpiry(token).ShouldBe(DateTimeOffset.FromUnixTimeSeconds(1648663947));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Df0Z0r74hxZmO47mo9QnRrncVJIGU6")] // opaque (seed 004)
    [InlineData("a.b.c")]
    [InlineData("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")] // no exp
    [InlineData("eyJhbGciOiJub25lIn0.eyJleHAiOiJzb29uIn0.")] // exp not a number
    public void Tokens_without_a_readable_exp_give_no_expiry(string? token) => Jwt.TryReadExpiry(token).ShouldBeNull();
}
