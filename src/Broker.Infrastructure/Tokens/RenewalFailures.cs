using Broker.Domain;
using Broker.Infrastructure.Persistence;

namespace Broker.Infrastructure.Tokens;

/// <summary>
/// What an admin reads when a renewal cannot go on (the account's last_error, a failure's detail, an audit row's
/// detail): written here once, so the same situation is said the same way wherever it is found.
/// </summary>
public static class RenewalFailures
{
    public const string LockHeldTooLong = "another instance held the account's lock too long";
    public const string DatabaseUnavailable = "the database is unavailable";
    public const string Inactive = "the account is inactive upstream";
    public const string NeedsAttention = "the account's credentials need attention";
    public const string ShuttingDown = "this broker instance is stopping and starts no new upstream call; try again";

    public const string NotConnected = "not connected: no usable refresh token, and the broker cannot log in by itself; " +
                                       "an admin must connect the account (POST /admin/accounts/{name}/connect)";

    /// <summary>What brings back an account whose refresh token is dead and that cannot log in by itself.</summary>
    public static string WayBack(Provider provider) => provider.Dialect.LogsIn()
        ? "a person must consent again and an admin import the new refresh token"
        : "an admin must connect the account again (POST /admin/accounts/{name}/connect)";

    public static string RefreshRefused(UpstreamOutcome refused, Provider provider) =>
        Shorten($"the upstream refused the refresh token ({refused.Detail}) and the account cannot log in by itself: {WayBack(provider)}");

    /// <summary>The refresh token has expired and the account cannot log in (what it logs in with is <paramref name="missing"/>).</summary>
    public static string RefreshTokenExpired(Provider provider, IEnumerable<string> missing) =>
        Shorten("the refresh token has expired and the account cannot log in by itself " +
                (provider.Dialect.LogsIn() ? $"(no {string.Join(", ", missing)} stored)" : $"(the {provider.Dialect.ToName()} dialect has no login)") +
                $": {WayBack(provider)}");

    public static string SecretsMissing(Provider provider, IEnumerable<string> missing) =>
        Shorten($"no {string.Join(", ", missing)} stored, which the {provider.Dialect.ToName()} dialect needs: an admin must enter it" +
                (provider.Dialect.CanRefresh() ? ", or import a refresh token" : ""));

    /// <summary>A refresh whose answer was lost, found under the lock, and what the broker does about it.</summary>
    public static string Interrupted(RefreshAttempt attempt, Provider provider, RecoveryStep step)
    {
        var grace = provider.RefreshReuseGraceSeconds is { } seconds
            ? $"the provider's reuse grace of {seconds} s {(step == RecoveryStep.RetryWithinGrace ? "still runs" : "has passed")}"
            : "the provider has no reuse grace (refresh_reuse_grace_seconds)";
        return Shorten($"a refresh begun at {attempt.StartedAt:O} was interrupted before its answer was stored, and {grace}: " + step switch
        {
            RecoveryStep.RetryWithinGrace => "sending the same refresh token again",
            RecoveryStep.LogIn => "the refresh token may be spent; logging in instead",
            _ => $"the refresh token may be spent and the account cannot log in by itself; {WayBack(provider)}",
        });
    }

    /// <summary>The account's last_error after a failed upstream call.</summary>
    public static string CallFailed(UpstreamOutcome outcome) => Shorten($"{outcome.Kind}: {outcome.Detail}");

    public static string Shorten(string text) => SafeText.Shorten(text, Limits.Detail)!;
}
