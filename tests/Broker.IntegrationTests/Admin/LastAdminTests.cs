using System.Net;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Admin;

/// <summary>
/// There is always an active admin. Each test in a world of its own: they need the bootstrap admin to be the only
/// admin, or revoke it, which no other test's world could survive.
/// </summary>
public sealed class LastAdminTests : IAsyncLifetime
{
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    private async Task<HttpStatusCode> StatusWithKeyAsync(string key) => (await _world.Broker.GetAsync("/admin/clients", key)).StatusCode;

    [Fact]
    public async Task Last_active_admin_can_be_neither_revoked_nor_deleted()
    {
        (await _world.SendAsync(HttpMethod.Post, "/admin/clients/bootstrap-admin/revoke")).ShouldBeProblem(HttpStatusCode.Conflict, "conflict");
        (await _world.SendAsync(HttpMethod.Delete, "/admin/clients/bootstrap-admin")).ShouldBeProblem(HttpStatusCode.Conflict, "conflict");
        (await StatusWithKeyAsync(BrokerWorld.AdminKey)).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Bootstrap_admin_can_revoke_itself_once_another_admin_exists()
    {
        var second = await _world.ClientAsync("second-admin", role: "admin");

        await _world.AdminAsync(HttpMethod.Post, "/admin/clients/bootstrap-admin/revoke");

        (await StatusWithKeyAsync(BrokerWorld.AdminKey)).ShouldBe(HttpStatusCode.Unauthorized);
        (await StatusWithKeyAsync(second)).ShouldBe(HttpStatusCode.OK);
        using var refused = await _world.Broker.SendAsync(_world.Broker.Request(HttpMethod.Post, "/admin/clients/second-admin/revoke", second));
        refused.StatusCode.ShouldBe(HttpStatusCode.Conflict); // and now it is the last one
    }

    [Fact]
    public async Task Two_admins_revoking_each_other_at_once_leave_one_standing()
    {
        var other = await _world.ClientAsync("other-admin", role: "admin");

        var answers = await Task.WhenAll(
            _world.Broker.SendAsync(_world.Broker.Request(HttpMethod.Post, "/admin/clients/other-admin/revoke", BrokerWorld.AdminKey)),
            _world.Broker.SendAsync(_world.Broker.Request(HttpMethod.Post, "/admin/clients/bootstrap-admin/revoke", other)));

        answers.Count(a => a.StatusCode == HttpStatusCode.OK).ShouldBe(1);
        var working = 0;
        foreach (var key in new[] { BrokerWorld.AdminKey, other })
            if (await StatusWithKeyAsync(key) == HttpStatusCode.OK) working++;
        working.ShouldBe(1);
    }
}
