using Microsoft.Extensions.Options;

namespace Broker.Client;

/// <summary>Checks an account's options when they are first used (and at start-up, for accounts added to an HttpClient).</summary>
internal sealed class BrokeredTokenOptionsValidator : IValidateOptions<BrokeredTokenOptions>
{
    public static readonly TimeSpan MaxMinValidity = TimeSpan.FromHours(24);

    public ValidateOptionsResult Validate(string? name, BrokeredTokenOptions options)
    {
        var account = string.IsNullOrEmpty(name) ? "(default)" : name;
        var errors = new List<string>();
        if (options.BrokerUrl is not { IsAbsoluteUri: true } url || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
            errors.Add($"BrokerUrl for account '{account}' must be an absolute http or https address of the broker.");
        if (string.IsNullOrWhiteSpace(options.ClientKey))
            errors.Add($"ClientKey for account '{account}' is required: the API key of a consumer client granted the account.");
        if (options.MinValidity < TimeSpan.Zero || options.MinValidity > MaxMinValidity)
            errors.Add($"MinValidity for account '{account}' must be from 0 to {MaxMinValidity}.");
        if (options.RenewBefore < TimeSpan.Zero || options.RenewBefore > options.MinValidity)
            errors.Add($"RenewBefore for account '{account}' must be from 0 to MinValidity ({options.MinValidity}).");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
