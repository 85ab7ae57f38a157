using System.Net;

namespace Broker.IntegrationTests.Support;

/// <summary>An oauth2-password account with no password on the simulator: it lives on a refresh token imported by an admin.</summary>
public sealed record RefreshOnlyAccount(string Name, string Username, string ClientId);

public static class RefreshOnlyAccounts
{
    /// <summary>A new oauth2-password provider on the simulator with the given reuse grace (null: none). Returns its name.</summary>
    public static async Task<string> RefreshOnlyProviderAsync(this BrokerWorld world, int? reuseGraceSeconds)
    {
        var name = $"ro-provider-{Guid.NewGuid().ToString("N")[..10]}";
        await world.AdminAsync(HttpMethod.Post, "/admin/providers", new
        {
            name, dialect = "oauth2-password", token_url = new Uri(world.SimulatorHost.BaseAddress, "o/token/").ToString(),
            refresh_reuse_grace_seconds = reuseGraceSeconds,
        }, HttpStatusCode.Created);
        return name;
    }

    /// <summary>
    /// A refresh-only account: the upstream user has a password the broker never learns; the refresh token a
    /// person's consent gave is imported. The simulator counts its calls under <see cref="RefreshOnlyAccount.Username"/>.
    /// </summary>
    public static async Task<RefreshOnlyAccount> RefreshOnlyAccountAsync(this BrokerWorld world, string provider)
    {
        var n = Guid.NewGuid().ToString("N")[..10];
        var account = new RefreshOnlyAccount($"ro-{n}", $"user-ro-{n}", $"client-ro-{n}");
        var password = $"pw-{Guid.NewGuid():N}";
        var clientSecret = $"cs-{Guid.NewGuid():N}";
        world.Secrets.Add(password);
        world.Secrets.Add(clientSecret);
        world.Simulator.AddUser(account.Username, password);
        world.Simulator.AddClient(account.ClientId, clientSecret);
        await world.AdminAsync(HttpMethod.Post, "/admin/accounts",
            new { name = account.Name, provider, username = account.Username, client_id = account.ClientId, client_secret = clientSecret },
            HttpStatusCode.Created);
        await world.ImportRefreshTokenAsync(account);
        return account;
    }

    /// <summary>A new consent: the simulator issues a refresh token, the admin imports it. Returns the token.</summary>
    public static async Task<string> ImportRefreshTokenAsync(this BrokerWorld world, RefreshOnlyAccount account)
    {
        var token = world.Simulator.IssueRefreshToken(account.Username, account.ClientId);
        world.Secrets.Add(token);
        await world.AdminAsync(HttpMethod.Put, $"/admin/accounts/{account.Name}/refresh-token", new { refresh_token = token });
        return token;
    }
}
