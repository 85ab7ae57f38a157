using System.Net;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Broker.IntegrationTests.Support;
using Broker.Simulator;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Audit;

/// <summary>
/// Drives one round of real traffic through a broker and the simulator: a login, a cache hit, a refresh, a
/// request for an account not granted, rejected credentials upstream, a bad key, no key, a consumer key on an
/// admin endpoint, invalid input and an admin edit. Each step one second after the last on the test clock, so
/// the trail's order is the order of the steps. Then the brokers are stopped, which drains the audit queue.
/// </summary>
public sealed class AuditTrafficFixture : IAsyncLifetime
{
    public const string ConsumerName = "audit-svc";
    public const string NotGranted = "never-granted";

    public BrokerWorld World { get; private set; } = null!;
    public TestAccount Account { get; private set; } = null!;
    public TestAccount Rejected { get; private set; } = null!;
    public string Provider { get; private set; } = null!;
    public string ConsumerKey { get; private set; } = null!;
    public DateTimeOffset From { get; private set; }
    public DateTimeOffset To { get; private set; }

    /// <summary>The access tokens served, in order: the login's (twice, miss then hit), then the refresh's.</summary>
    public List<string> AccessTokens { get; } = [];

    /// <summary>Every secret, key and token the traffic used: none may appear in the trail.</summary>
    public List<string> Secrets { get; } = [];

    public async Task InitializeAsync()
    {
        World = await BrokerWorld.StartAsync();
        Account = await World.AccountAsync("sliderule");
        Rejected = await World.AccountAsync("sliderule");
        Provider = await World.ProviderAsync("sliderule");
        var created = await World.AdminAsync(HttpMethod.Post, "/admin/clients",
            new { name = ConsumerName, role = "consumer", accounts = new[] { Account.Name, Rejected.Name } }, HttpStatusCode.Created);
        ConsumerKey = created["api_key"]!.GetValue<string>();
        World.Simulator.SetFault(Fault.RejectCredentials, Rejected.Username);
        var broker = World.Broker;

        // The refusals are counted per minute: start the steps at a minute's beginning, so that none falls across its end.
        World.Clock.Advance(TimeSpan.FromSeconds(60 - World.Clock.GetUtcNow().Second));
        Step(); // 1: first fetch logs in upstream
        AccessTokens.Add(await broker.TokenAsync(Account.Name, ConsumerKey));
        Secrets.Add(await StoredRefreshTokenAsync());
        Step(); // 2: served from memory
        AccessTokens.Add(await broker.TokenAsync(Account.Name, ConsumerKey));
        World.Clock.Advance(SimulatorState.DefaultAccessLifetime);
        Step(); // 3: expired: refreshed upstream
        AccessTokens.Add(await broker.TokenAsync(Account.Name, ConsumerKey));
        Secrets.Add(await StoredRefreshTokenAsync());
        Step(); // 4: an account this client is not granted
        (await broker.FetchAsync(NotGranted, ConsumerKey)).Status.ShouldBe(HttpStatusCode.Forbidden);
        Step(); // 5: the upstream rejects the credentials
        (await broker.FetchAsync(Rejected.Name, ConsumerKey)).Status.ShouldBe(HttpStatusCode.Conflict);
        Step(); // 6: an unknown key
        (await broker.FetchAsync(Account.Name, "brk_not-a-key-0123456789")).Status.ShouldBe(HttpStatusCode.Unauthorized);
        Step(); // 7: no key at all
        (await broker.GetAsync($"/v1/accounts/{Account.Name}/token", null)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        Step(); // 8: a consumer key on an admin endpoint
        (await broker.GetAsync("/admin/accounts", ConsumerKey)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        Step(); // 9: invalid input
        (await broker.GetAsync($"/v1/accounts/{Account.Name}/token?min_validity=soon", ConsumerKey)).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        Step(); // 10: an admin fixes the rejected account's password
        var password = $"new-pw-{Guid.NewGuid():N}";
        await World.AdminAsync(HttpMethod.Patch, $"/admin/accounts/{Rejected.Name}", new { password });

        To = Microseconds(World.Clock.GetUtcNow().AddSeconds(1));
        Secrets.AddRange([.. World.Secrets, .. AccessTokens, password, ConsumerKey, BrokerWorld.AdminKey, BrokerWorld.KeyEncryptionKey]);
        await World.DrainAsync();
    }

    public async Task DisposeAsync() => await World.DisposeAsync();

    private void Step()
    {
        World.Clock.Advance(TimeSpan.FromSeconds(1));
        if (From == default) From = Microseconds(World.Clock.GetUtcNow());
    }

    /// <summary>PostgreSQL keeps microseconds; the range is given (and echoed) at that precision.</summary>
    private static DateTimeOffset Microseconds(DateTimeOffset time) => new(time.UtcTicks - time.UtcTicks % 10, TimeSpan.Zero);

    private async Task<string> StoredRefreshTokenAsync()
    {
        var services = World.Broker.Services;
        await using var db = await services.GetRequiredService<IDbContextFactory<BrokerDbContext>>().CreateDbContextAsync();
        var account = await db.Accounts.AsNoTracking().SingleAsync(a => a.Name == Account.Name);
        return services.GetRequiredService<SecretProtector>().Unprotect(SecretKind.RefreshToken, account.RefreshTokenEncrypted!);
    }
}
