using Broker.Infrastructure.Security;

namespace Broker.Infrastructure.Identity;

/// <summary>What came of a workload identity token.</summary>
public abstract record IdentityOutcome
{
    public sealed record Authenticated(AuthenticatedClient Client) : IdentityOutcome;

    /// <summary>
    /// Refused, with what the caller is told (<paramref name="Kind"/> picks the problem type; <paramref name="Detail"/>
    /// says what to fix, never echoing the token) and what the audit counts (<paramref name="Reason"/>, a fixed phrase
    /// with the trusted issuer's name and, once the signature held, the subject).
    /// </summary>
    public sealed record Refused(IdentityRefusal Kind, string Detail, string Reason) : IdentityOutcome;
}

public enum IdentityRefusal
{
    /// <summary>Not a token the broker can believe: malformed, unknown issuer, bad signature or algorithm, wrong audience, expired, …</summary>
    Invalid,
    /// <summary>A valid token whose identity no client is bound to.</summary>
    NotBound,
    /// <summary>A valid token whose identity more than one client is bound to: refused rather than guessed.</summary>
    Ambiguous,
    /// <summary>The issuer's keys cannot be had (it is unreachable and none were fetched before).</summary>
    KeysUnavailable,
    /// <summary>Too many new tokens to check this second (<see cref="WorkloadIdentityOptions.SignatureChecksPerSecond"/>).</summary>
    Busy,
}
