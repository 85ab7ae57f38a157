using System.ComponentModel.DataAnnotations;
using Broker.Infrastructure.Upstream;

namespace Broker.UnitTests.Dialects;

public class UpstreamOptionsTests
{
    [Theory]
    [InlineData("00:00:10", true)]
    [InlineData("00:00:00.100", true)]
    [InlineData("00:02:00", true)]
    [InlineData("00:00:00", false)]
    [InlineData("00:00:00.050", false)]
    [InlineData("00:05:00", false)]
    public void Upstream_timeout_must_be_short_but_not_zero(string timeout, bool valid)
    {
        var options = new UpstreamOptions { Timeout = TimeSpan.Parse(timeout) };

        Validator.TryValidateObject(options, new ValidationContext(options), null, validateAllProperties: true).ShouldBe(valid);
    }

    [Fact]
    public void Upstream_timeout_defaults_to_ten_seconds()
    {
        new UpstreamOptions().Timeout.ShouldBe(TimeSpan.FromSeconds(10));
    }
}
