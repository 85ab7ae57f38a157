using System.ComponentModel.DataAnnotations;

namespace Broker.Api.Connect;

/// <summary>How long a person has to consent once an admin began connecting an account.</summary>
public sealed class ConnectOptions
{
    public const string Section = "Broker:Connect";

    /// <summary>How long a connect attempt's state is accepted by the callback; it is single use in any case.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "01:00:00")]
    public TimeSpan StateLifetime { get; set; } = TimeSpan.FromMinutes(10);
}

/// <summary>
/// The broker's own address as a person's browser reaches it (Broker:PublicBaseUrl). Needed only to connect accounts:
/// the upstream redirects the browser to {PublicBaseUrl}/oauth/callback.
/// </summary>
public sealed class PublicUrlOptions
{
    public const string Section = "Broker";

    public string? PublicBaseUrl { get; set; }

    /// <summary>Absolute http(s), no query, fragment or credentials; unset is fine (connecting is then refused).</summary>
    public static bool IsValid(PublicUrlOptions options) =>
        string.IsNullOrEmpty(options.PublicBaseUrl) ||
        (Uri.TryCreate(options.PublicBaseUrl, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp) &&
         !string.IsNullOrEmpty(uri.Host) && string.IsNullOrEmpty(uri.UserInfo) && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.Fragment));

    /// <summary>The callback URL: {PublicBaseUrl}/oauth/callback (a path in the base URL is kept).</summary>
    public string? CallbackUrl => string.IsNullOrEmpty(PublicBaseUrl) ? null : PublicBaseUrl.TrimEnd('/') + ConnectEndpoints.CallbackPath;
}
