using Broker.Infrastructure.Security;

namespace Broker.UnitTests.Security;

public sealed class ApiKeysTests
{
    [Theory]
    [InlineData("brk_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")]
    [InlineData("")]
    [InlineData("ключ-с-юникодом-🔑")]
    public void The_in_memory_digest_is_the_stored_hash(string key) =>
        ApiKeys.Digest(key).ToArray().ShouldBe(ApiKeys.Hash(key));

    [Fact]
    public void A_key_longer_than_the_stack_buffer_is_digested_too()
    {
        var key = new string('k', 5000);
        ApiKeys.Digest(key).ToArray().ShouldBe(ApiKeys.Hash(key));
    }

    [Fact]
    public void Different_keys_give_different_digests_and_equal_keys_equal_ones()
    {
        var key = ApiKeys.New();
        ApiKeys.Digest(key).ShouldBe(ApiKeys.Digest(new string(key.ToCharArray())));
        ApiKeys.Digest(key).ShouldNotBe(ApiKeys.Digest(ApiKeys.New()));
    }

    [Fact]
    public void A_digest_never_prints_its_value() =>
        ApiKeys.Digest("brk_secret").ToString().ShouldBe("ApiKeyDigest");
}
