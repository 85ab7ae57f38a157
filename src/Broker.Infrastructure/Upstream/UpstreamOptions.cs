using System.ComponentModel.DataAnnotations;
using System.Net;

namespace Broker.Infrastructure.Upstream;

/// <summary>How the broker talks to upstream token endpoints (configuration section <c>Broker:Upstream</c>).</summary>
public sealed class UpstreamOptions : IValidatableObject
{
    public const string Section = "Broker:Upstream";

    /// <summary>
    /// How long one login or refresh may take, answer body included. The account's row lock is held across the
    /// call, so this must stay well below the database's <c>lock_timeout</c> and
    /// <c>idle_in_transaction_session_timeout</c> (docs/architecture.md, "Handing out a token", step 4).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:02:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Extra attempts of a login after a 5xx, 429, timeout or refused connection (exponential backoff with jitter).
    /// Refreshes are never retried: a refresh that timed out may have spent the token, so the next step is a login.
    /// </summary>
    [Range(0, 5)]
    public int LoginRetries { get; set; } = 1;

    /// <summary>The first retry's delay; each further retry waits about twice as long.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:30")]
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Share of failed calls to one provider, within <see cref="BreakerSamplingDuration"/>, that opens its circuit.</summary>
    [Range(0.01, 1.0)]
    public double BreakerFailureRatio { get; set; } = 0.5;

    /// <summary>Calls needed in the sampling window before the breaker may open.</summary>
    [Range(2, 1000)]
    public int BreakerMinimumThroughput { get; set; } = 4;

    [Range(typeof(TimeSpan), "00:00:00.500", "00:10:00")]
    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an open circuit answers 503 at once, before one trial call is let through.</summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "00:10:00")]
    public TimeSpan BreakerBreakDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Networks (CIDRs such as <c>10.20.0.0/16</c> or <c>fd00:ec2::/32</c>) the broker may call although they are
    /// loopback, link-local, private, shared (CGNAT), unique-local, unspecified, multicast or reserved: by default it
    /// calls only public addresses, so an admin key cannot aim stored credentials at the cloud's metadata service or
    /// the internal network (docs/providers.md, "Where secrets go"). Blank entries are ignored.
    /// </summary>
    public List<string> AllowedNetworks { get; set; } = [];

    /// <summary>
    /// Providers (by name; <c>*</c> for all) whose token and refresh URLs may be plain http. Otherwise https is
    /// required, at admin time and again before each call. Blank entries are ignored.
    /// </summary>
    public List<string> AllowPlainHttp { get; set; } = [];

    public bool AllowsPlainHttp(string? provider) =>
        AllowPlainHttp.Any(p => p.Trim() == "*" || (provider is not null && p.Trim() == provider));

    /// <summary>The allowed networks, parsed (the options are validated at start-up, so every entry parses).</summary>
    public IReadOnlyList<IPNetwork> ParsedAllowedNetworks() =>
        [.. AllowedNetworks.Where(n => !string.IsNullOrWhiteSpace(n)).Select(n => IPNetwork.Parse(n.Trim()))];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var network in AllowedNetworks.Where(n => !string.IsNullOrWhiteSpace(n)))
        {
            // IPNetwork.TryParse masks bits past the prefix; "10.1.2.3/8" is more likely a typo than a wish for 10/8.
            var text = network.Trim();
            if (!IPNetwork.TryParse(text, out var parsed) || !IPAddress.TryParse(text.Split('/')[0], out var address) ||
                !parsed.BaseAddress.Equals(address))
                yield return new ValidationResult(
                    $"Broker:Upstream:AllowedNetworks: '{network}' is not a network in CIDR notation with no bits set past its prefix " +
                    "(e.g. 10.0.0.0/8, 127.0.0.0/8, ::1/128).", [nameof(AllowedNetworks)]);
        }
    }

    /// <summary>The longest an upstream step may hold the account's row lock: every attempt and the waits between.</summary>
    public TimeSpan WorstCaseCall =>
        Timeout * (LoginRetries + 1) + RetryDelay * (Math.Pow(2, LoginRetries + 1) - 1) * 1.5 + Timeout; // + the refresh tried first
}
