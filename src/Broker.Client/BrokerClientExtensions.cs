using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Broker.Client;

/// <summary>Registration of the broker client and of brokered tokens on HttpClients.</summary>
public static class BrokerClientExtensions
{
    /// <summary>
    /// Registers <see cref="BrokerTokenClient"/> (inject it to fetch tokens directly) and the settings shared by
    /// every account, such as the broker's URL and this service's key:
    /// <code>
    /// services.AddBrokerTokenClient(o =>
    /// {
    ///     o.BrokerUrl = new Uri("https://broker.internal/");
    ///     o.ClientKey = configuration["Broker:ClientKey"];
    /// });
    /// </code>
    /// or, instead of the key, the file where the platform puts this service's workload identity token:
    /// <code>
    /// o.IdentityTokenFile = "/var/run/secrets/broker/token";
    /// </code>
    /// Returns the builder of the HttpClient that talks to the broker (timeouts, proxies, resilience).
    /// </summary>
    public static IHttpClientBuilder AddBrokerTokenClient(this IServiceCollection services, Action<BrokeredTokenOptions>? configureAll = null)
    {
        if (configureAll is not null) services.ConfigureAll(configureAll);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BrokeredTokenOptions>, BrokeredTokenOptionsValidator>());
        services.TryAddSingleton<BrokeredTokenCache>();
        // One per process, so every account reading the same file shares its reads.
        services.TryAddSingleton(sp => new IdentityTokenFiles(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<IdentityTokenFiles>>()));
        // Redirects would replay the client key (or identity token) to another address.
        var builder = services.AddHttpClient<BrokerTokenClient>(BrokerTokenClient.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) });
        return builder;
    }

    /// <summary>
    /// Puts a valid token of the broker <paramref name="account"/> on every request of this HttpClient, cached in
    /// this process until shortly before it expires; on an upstream 401 or 403 reports the token to the broker
    /// and retries once with a fresh one.
    /// <code>
    /// services.AddHttpClient("sliderule", c => c.BaseAddress = new Uri("https://ps.slideruleearth.io/"))
    ///     .AddBrokeredToken("sliderule-prod", o =>
    ///     {
    ///         o.BrokerUrl = new Uri("https://broker.internal/");
    ///         o.ClientKey = configuration["Broker:ClientKey"];
    ///         o.MinValidity = TimeSpan.FromMinutes(2);
    ///     });
    /// </code>
    /// The settings are validated when the host starts.
    /// </summary>
    public static IHttpClientBuilder AddBrokeredToken(this IHttpClientBuilder builder, string account, Action<BrokeredTokenOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(account);
        var services = builder.Services;
        if (!services.Any(d => d.ServiceType == typeof(BrokeredTokenCache))) services.AddBrokerTokenClient();
        var options = services.AddOptions<BrokeredTokenOptions>(account);
        if (configure is not null) options.Configure(configure);
        options.ValidateOnStart();

        return builder.AddHttpMessageHandler(sp => new BrokeredTokenHandler(
            account, sp.GetRequiredService<BrokeredTokenCache>(), sp.GetRequiredService<ILogger<BrokeredTokenHandler>>()));
    }
}
