using Microsoft.Extensions.Options;

namespace Broker.Client;

/// <summary>Checks an account's options when they are first used (and at start-up, for accounts added to an HttpClient).</summary>
internal sealed class BrokeredTokenOptionsValidator : IValidateOptions<BrokeredTokenOptions>
{
    public static readonly TimeSpan MaxMinValidity = TimeSpan.FromHours(24);

    // Kubernetes projects tokens of 10 minutes at the shortest (expirationSeconds: 600) and rotates them at 80% of
    // their life: a longer recheck could hold on to a token past its expiry on every call until a 401.
    public static readonly TimeSpan MaxIdentityTokenRecheck = TimeSpan.FromMinutes(10);

    public ValidateOptionsResult Validate(string? name, BrokeredTokenOptions options)
    {
        var account = string.IsNullOrEmpty(name) ? "(default)" : name;
        var errors = new List<string>();
        if (options.BrokerUrl is not { IsAbsoluteUri: true } url || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
            errors.Add($"BrokerUrl for account '{account}' must be an absolute http or https address of the broker.");
        // Blank counts as unset, so a deployment can pass both as variables and leave one empty.
        var hasKey = !string.IsNullOrWhiteSpace(options.ClientKey);
        var hasFile = !string.IsNullOrWhiteSpace(options.IdentityTokenFile);
        if (!hasKey && !hasFile)
            errors.Add($"ClientKey for account '{account}' is required, or IdentityTokenFile instead: the API key of a consumer client " +
                "granted the account, or the path of a file holding a workload identity token bound to such a client.");
        if (hasKey && hasFile)
            errors.Add($"ClientKey and IdentityTokenFile for account '{account}' are both set: set only one, the API key or the path " +
                "of the workload identity token file.");
        if (options.IdentityTokenRecheck < TimeSpan.Zero || options.IdentityTokenRecheck > MaxIdentityTokenRecheck)
            errors.Add($"IdentityTokenRecheck for account '{account}' must be from 0 to {MaxIdentityTokenRecheck}.");
        if (options.MinValidity < TimeSpan.Zero || options.MinValidity > MaxMinValidity)
            errors.Add($"MinValidity for account '{account}' must be from 0 to {MaxMinValidity}.");
        if (options.RenewBefore < TimeSpan.Zero || options.RenewBefore > options.MinValidity)
            errors.Add($"RenewBefore for account '{account}' must be from 0 to MinValidity ({options.MinValidity}).");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
