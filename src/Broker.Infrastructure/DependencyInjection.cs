using Broker.Infrastructure.Audit;
using Broker.Infrastructure.Identity;
using Broker.Infrastructure.Observability;
using Broker.Infrastructure.Outbound;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Broker.Infrastructure.Tokens;
using Broker.Infrastructure.Upstream;
using Broker.Infrastructure.Webhooks;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Broker.Infrastructure;

public static class DependencyInjection
{
    public const string ConnectionStringName = "Broker";

    /// <summary>Registers storage, encryption, the dialect clients, the token issuer and the audit writer.</summary>
    public static IHostApplicationBuilder AddInfrastructure(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        var connectionString = builder.Configuration.GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new InvalidOperationException(
                $"No database: set ConnectionStrings__{ConnectionStringName} (the run script starts a local PostgreSQL and sets it for you).");

        services.TryAddSingleton(TimeProvider.System);

        services.AddOptions<TokenOptions>().BindConfiguration(TokenOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<UpstreamOptions>().BindConfiguration(UpstreamOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<AuditOptions>().BindConfiguration(AuditOptions.Section).ValidateDataAnnotations()
            .Validate(o => AuditHasher.IsValidKey(o.HmacKey), "Broker:Audit:HmacKey must be base64 of at least 32 random bytes.").ValidateOnStart();
        services.AddOptions<AheadOfTimeOptions>().BindConfiguration(AheadOfTimeOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<WebhookOptions>().BindConfiguration(WebhookOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ChangeFeedOptions>().BindConfiguration(ChangeFeedOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<WorkloadIdentityOptions>().BindConfiguration(WorkloadIdentityOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<TokenOptions>, LockOutlastsUpstreamCall>();
        var poolSize = new NpgsqlConnectionStringBuilder(connectionString).MaxPoolSize;
        services.AddSingleton<IValidateOptions<TokenOptions>>(new RenewalsLeaveRoomInThePool(poolSize));

        // Built by the container, so the container disposes it (and its connection pool) with the host.
        services.AddSingleton(_ => new NpgsqlDataSourceBuilder(connectionString) { Name = "broker" }.Build());
        services.AddSingleton<StaleConnections>();
        services.AddPooledDbContextFactory<BrokerDbContext>((sp, o) =>
            o.UseNpgsql(sp.GetRequiredService<NpgsqlDataSource>()).AddInterceptors(sp.GetRequiredService<StaleConnections>()));
        services.AddScoped(sp => sp.GetRequiredService<IDbContextFactory<BrokerDbContext>>().CreateDbContext());
        services.AddSingleton<MigrationRunner>();

        var keyEncryption = builder.Configuration.GetSection(KeyEncryptionOptions.Section).Get<KeyEncryptionOptions>() ?? new();
        var keys = KeyEncryptionKeys.Load(keyEncryption, builder.Environment.ContentRootPath, builder.Environment.IsDevelopment());
        services.AddSingleton(keys);
        services.AddDataProtection().SetApplicationName("Broker");
        services.AddSingleton<IConfigureOptions<KeyManagementOptions>>(sp => new ConfigureOptions<KeyManagementOptions>(o =>
        {
            o.XmlRepository = new PostgresKeyRing(sp.GetRequiredService<NpgsqlDataSource>());
            o.XmlEncryptor = new KeyRingEncryptor(sp.GetRequiredService<KeyEncryptionKeys>());
        }));
        services.AddSingleton<SecretProtector>();
        services.AddSingleton<KeyRingRewrap>();
        services.AddSingleton<SecretReencryption>();

        services.AddSingleton<OutboundDestinations>();
        services.AddOutboundClient(UpstreamClient.HttpClientName); // UpstreamClient times each call itself
        // No resilience handler here: retries and the circuit breaker are UpstreamResilience's, a refresh is never replayed.
        services.AddSingleton(sp => new UpstreamClient(
            sp.GetRequiredService<IHttpClientFactory>().CreateClient(UpstreamClient.HttpClientName),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<UpstreamOptions>>()));

        services.AddSingleton<ClientDirectory>();
        services.AddOutboundClient(IssuerKeys.HttpClientName); // IssuerKeys times each fetch
        services.AddSingleton<IssuerKeys>();
        services.AddSingleton<IdentityCheckBudget>();
        services.AddSingleton<WorkloadIdentity>();
        services.AddSingleton<ClientCertificateIdentity>();
        services.AddSingleton<UpstreamResilience>();
        services.AddSingleton<TokenCache>();
        services.AddSingleton<ChangeFeed>();
        services.AddHostedService(sp => sp.GetRequiredService<ChangeFeed>());
        services.AddSingleton<CacheInvalidation>();
        services.AddSingleton<RenewalGate>();
        services.AddSingleton<AccountRenewal>();
        services.AddSingleton<RenewalDrain>();
        services.AddHostedService(sp => sp.GetRequiredService<RenewalDrain>());
        // Above the drain: the host stops its other services (the audit writer's last flush) after it.
        services.AddOptions<HostOptions>().Configure<IOptions<TokenOptions>, IOptions<UpstreamOptions>>((host, tokens, upstream) =>
            host.ShutdownTimeout = tokens.Value.DrainTimeoutFor(upstream.Value.WorstCaseCall) + TimeSpan.FromSeconds(5));
        services.AddSingleton<TokenIssuer>();
        services.AddSingleton<AuditQueue>();
        services.AddSingleton<ServedTokenRollups>();
        services.AddSingleton<AuditHasher>();
        services.AddSingleton<AuditWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<AuditWriter>());
        services.AddSingleton<AheadOfTimeRefresher>();
        services.AddHostedService(sp => sp.GetRequiredService<AheadOfTimeRefresher>());
        services.AddSingleton<AuditRetention>();
        services.AddHostedService(sp => sp.GetRequiredService<AuditRetention>());
        services.AddSingleton<AccountStateCounts>();
        services.AddHostedService(sp => sp.GetRequiredService<AccountStateCounts>());
        services.AddSingleton<BrokerMetrics>();
        services.AddWebhooks();
        return builder;
    }

    /// <summary>Webhook deliveries go out like upstream calls: only to allowed addresses, no proxy, no redirects.</summary>
    private static void AddWebhooks(this IServiceCollection services)
    {
        services.AddOutboundClient(WebhookDispatcher.HttpClientName); // timed per delivery
        services.AddSingleton<WebhookDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookDispatcher>());
        services.AddSingleton<RefreshExpiryScanner>();
        services.AddHostedService(sp => sp.GetRequiredService<RefreshExpiryScanner>());
    }

    /// <summary>
    /// A named client for calls that leave the broker (upstreams, webhooks), with no timeout of its own: the caller
    /// times each call.
    /// </summary>
    private static void AddOutboundClient(this IServiceCollection services, string name) =>
        services.AddHttpClient(name, http => http.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(sp => new SocketsHttpHandler
            {
                // A redirect would send the request (credentials, a signed event) on to another URL.
                AllowAutoRedirect = false,
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                // The one place that decides which addresses credentials may be sent to (docs/providers.md, "Where
                // secrets go"): it resolves the host itself and connects only to an allowed address.
                ConnectCallback = sp.GetRequiredService<OutboundDestinations>().ConnectAsync,
                // Through a proxy the callback would check the proxy's address, not the upstream's.
                UseProxy = false,
            })
            // The handler renews its connections itself (PooledConnectionLifetime), so a client kept for the host's
            // life never needs the factory to swap handlers under it.
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            // The factory's own loggers write the URL, path and all; a webhook's path can be its secret.
            .RemoveAllLoggers()
            .AddLogger(sp => new OutboundCallLogger(sp.GetRequiredService<ILogger<OutboundCallLogger>>(), name));

    /// <summary>
    /// The row lock is held across the upstream call; a waiter must be willing to wait longer than that call
    /// may take, or it fails while the holder is still doing the work.
    /// </summary>
    private sealed class LockOutlastsUpstreamCall(IOptions<UpstreamOptions> upstream) : IValidateOptions<TokenOptions>
    {
        public ValidateOptionsResult Validate(string? name, TokenOptions options) =>
            options.LockTimeout <= upstream.Value.WorstCaseCall
                ? ValidateOptionsResult.Fail(
                    $"Broker:Tokens:LockTimeout ({options.LockTimeout}) must be longer than the longest upstream step " +
                    $"({upstream.Value.WorstCaseCall}: a refresh, then a login with its retries, each up to Broker:Upstream:Timeout).")
                // A stopping instance waits for what it has sent: cut short, a rotated refresh token is lost.
                : options.DrainTimeout is { } drain && drain <= upstream.Value.WorstCaseCall
                    ? ValidateOptionsResult.Fail(
                        $"Broker:Tokens:DrainTimeout ({options.DrainTimeout}) must be longer than the longest upstream step " +
                        $"({upstream.Value.WorstCaseCall}: a refresh, then a login with its retries, each up to Broker:Upstream:Timeout).")
                    : ValidateOptionsResult.Success;
    }

    /// <summary>Each renewal may hold two connections at once (<see cref="RenewalGate"/>): more than half the pool could take all of it.</summary>
    private sealed class RenewalsLeaveRoomInThePool(int poolSize) : IValidateOptions<TokenOptions>
    {
        public ValidateOptionsResult Validate(string? name, TokenOptions options) =>
            options.MaxConcurrentRenewals > poolSize / 2
                ? ValidateOptionsResult.Fail(
                    $"Broker:Tokens:MaxConcurrentRenewals ({options.MaxConcurrentRenewals}) must be at most half of the connection pool " +
                    $"(Maximum Pool Size {poolSize} in ConnectionStrings:Broker): each renewal needs a second connection for a moment. " +
                    "Raise the pool or lower the setting (0: a third of the pool).")
                : ValidateOptionsResult.Success;
    }
}
