using System.Net;
using Broker.Domain;
using Broker.IntegrationTests.Support;

namespace Broker.IntegrationTests.Admin;

/// <summary>
/// Clients through the admin API: keys shown once, rotation with overlap, revocation, grants, roles. What needs the
/// bootstrap admin to be the only admin, or revokes it, is in <see cref="LastAdminTests"/>.
/// </summary>
public sealed class ClientAdminTests(SharedWorld shared) : IClassFixture<SharedWorld>
{
    private readonly BrokerWorld _world = shared.World;

    private async Task<HttpStatusCode> StatusWithKeyAsync(string key) => (await _world.Broker.GetAsync("/admin/clients", key)).StatusCode;

    [Fact]
    public async Task Api_key_is_in_the_create_answer_and_in_no_read()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ClientAsync("svc-shown-once", accounts: [account.Name]);

        key.ShouldStartWith("brk_");
        var read = await _world.AdminAsync(HttpMethod.Get, "/admin/clients/svc-shown-once");
        read.ContainsKey("api_key").ShouldBeFalse();
        read["key_prefix"]!.GetValue<string>().ShouldBe(key[..12]);
        read["role"]!.GetValue<string>().ShouldBe("consumer");
        read["accounts"]!.AsArray().Select(a => a!.GetValue<string>()).ShouldBe([account.Name]);
        (await _world.AdminAsync(HttpMethod.Get, "/admin/clients")).ToJsonString().ShouldNotContain(key);
        _world.Simulator.IsValidAccessToken(await _world.Broker.TokenAsync(account.Name, key)).ShouldBeTrue();
    }

    [Fact]
    public async Task Bad_role_unknown_grants_and_bad_name_are_named_together()
    {
        var answer = await _world.SendAsync(HttpMethod.Post, "/admin/clients",
            body: new { name = "bad name", role = "root", accounts = new[] { "nope-1" }, providers = new[] { "nope-2" } });
        answer.ShouldNameBadFields("accounts", "name", "providers", "role");
        answer.Text.ShouldContain("nope-1");
        answer.Text.ShouldContain("nope-2");
    }

    [Fact]
    public async Task Duplicate_name_is_409()
    {
        await _world.ClientAsync("svc-duplicated");
        (await _world.SendAsync(HttpMethod.Post, "/admin/clients", body: new { name = "svc-duplicated" })).ShouldBeProblem(HttpStatusCode.Conflict, "conflict");
    }

    [Fact]
    public async Task Rotated_key_replaces_the_old_one_at_once_by_default()
    {
        var old = await _world.ClientAsync("ops-rotated", role: "admin");
        (await StatusWithKeyAsync(old)).ShouldBe(HttpStatusCode.OK);

        var rotated = await _world.AdminAsync(HttpMethod.Post, "/admin/clients/ops-rotated/rotate");
        var fresh = rotated["api_key"]!.GetValue<string>();
        _world.Secrets.Add(fresh);

        fresh.ShouldNotBe(old);
        rotated["previous_key_expires_at"].ShouldBeNull();
        (await StatusWithKeyAsync(old)).ShouldBe(HttpStatusCode.Unauthorized);
        (await StatusWithKeyAsync(fresh)).ShouldBe(HttpStatusCode.OK);
        (await _world.AdminAsync(HttpMethod.Get, "/admin/clients/ops-rotated")).ContainsKey("api_key").ShouldBeFalse();
    }

    [Fact]
    public async Task Old_key_keeps_working_for_the_overlap_and_not_a_second_longer()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var old = await _world.ClientAsync("svc-overlap", accounts: [account.Name]);
        (await _world.Broker.FetchAsync(account.Name, old)).Status.ShouldBe(HttpStatusCode.OK);

        var rotated = await _world.AdminAsync(HttpMethod.Post, "/admin/clients/svc-overlap/rotate", new { overlap_seconds = 120 });
        var fresh = rotated["api_key"]!.GetValue<string>();
        _world.Secrets.Add(fresh);
        rotated["previous_key_expires_at"]!.GetValue<DateTimeOffset>().ShouldBe(_world.Clock.GetUtcNow().AddSeconds(120), TimeSpan.FromSeconds(1));

        (await _world.Broker.FetchAsync(account.Name, old)).Status.ShouldBe(HttpStatusCode.OK);
        (await _world.Broker.FetchAsync(account.Name, fresh)).Status.ShouldBe(HttpStatusCode.OK);

        _world.Clock.Advance(TimeSpan.FromSeconds(119));
        (await _world.Broker.FetchAsync(account.Name, old)).Status.ShouldBe(HttpStatusCode.OK);

        // The key directory holds the old key until the end of the overlap, not past it.
        _world.Clock.Advance(TimeSpan.FromSeconds(1));
        (await _world.Broker.FetchAsync(account.Name, old)).Status.ShouldBe(HttpStatusCode.Unauthorized);
        (await _world.Broker.FetchAsync(account.Name, fresh)).Status.ShouldBe(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(604_801)]
    public async Task Overlap_out_of_range_is_named(int overlap)
    {
        var name = $"svc-overlap-of-{overlap}";
        await _world.ClientAsync(name);
        (await _world.SendAsync(HttpMethod.Post, $"/admin/clients/{name}/rotate", body: new { overlap_seconds = overlap })).ShouldNameBadFields("overlap_seconds");
    }

    [Fact]
    public async Task Revoked_key_is_refused_at_once_and_cannot_be_rotated()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ClientAsync("svc-revoked", accounts: [account.Name]);
        (await _world.Broker.FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.OK);

        var revoked = await _world.AdminAsync(HttpMethod.Post, "/admin/clients/svc-revoked/revoke");

        revoked["revoked"]!.GetValue<bool>().ShouldBeTrue();
        (await _world.Broker.FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.Unauthorized);
        (await _world.SendAsync(HttpMethod.Post, "/admin/clients/svc-revoked/rotate")).ShouldBeProblem(HttpStatusCode.Conflict, "conflict");
        (await _world.AdminAsync(HttpMethod.Post, "/admin/clients/svc-revoked/revoke"))["revoked"]!.GetValue<bool>().ShouldBeTrue(); // idempotent
    }

    [Fact]
    public async Task Deleted_client_key_is_refused()
    {
        var key = await _world.ClientAsync("gone", role: "admin");
        await _world.AdminAsync(HttpMethod.Delete, "/admin/clients/gone", expect: HttpStatusCode.NoContent);
        (await StatusWithKeyAsync(key)).ShouldBe(HttpStatusCode.Unauthorized);
        (await _world.SendAsync(HttpMethod.Get, "/admin/clients/gone")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Provider_grant_covers_its_accounts_including_later_ones_and_replacing_grants_takes_it_away()
    {
        var first = await _world.AccountAsync(DialectNames.SimpleJwt);
        var key = await _world.ClientAsync("svc-provider-grant");
        (await _world.Broker.FetchAsync(first.Name, key)).Status.ShouldBe(HttpStatusCode.Forbidden);

        var granted = await _world.AdminAsync(HttpMethod.Put, "/admin/clients/svc-provider-grant/grants", new { providers = new[] { "sim-simplejwt" } });
        granted["providers"]!.AsArray().Select(p => p!.GetValue<string>()).ShouldBe(["sim-simplejwt"]);
        var later = await _world.AccountAsync(DialectNames.SimpleJwt);
        (await _world.Broker.FetchAsync(first.Name, key)).Status.ShouldBe(HttpStatusCode.OK);
        (await _world.Broker.FetchAsync(later.Name, key)).Status.ShouldBe(HttpStatusCode.OK);

        await _world.AdminAsync(HttpMethod.Put, "/admin/clients/svc-provider-grant/grants", new { accounts = new[] { later.Name } });
        (await _world.Broker.FetchAsync(first.Name, key)).Status.ShouldBe(HttpStatusCode.Forbidden);
        (await _world.Broker.FetchAsync(later.Name, key)).Status.ShouldBe(HttpStatusCode.OK);

        (await _world.SendAsync(HttpMethod.Put, "/admin/clients/svc-provider-grant/grants", body: new { accounts = new[] { "nope" } })).ShouldNameBadFields("accounts");
        (await _world.SendAsync(HttpMethod.Put, "/admin/clients/nope/grants", body: new { accounts = Array.Empty<string>() }))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Admin_key_fetches_no_token_until_it_is_granted_the_account()
    {
        var account = await _world.AccountAsync(DialectNames.SimpleJwt);

        var (status, body, _) = await _world.Broker.FetchAsync(account.Name, BrokerWorld.AdminKey);
        status.ShouldBe(HttpStatusCode.Forbidden);
        body["type"]!.GetValue<string>().ShouldEndWith("/errors/not-granted");

        await _world.AdminAsync(HttpMethod.Put, "/admin/clients/bootstrap-admin/grants", new { accounts = new[] { account.Name } });
        _world.Simulator.IsValidAccessToken(await _world.Broker.TokenAsync(account.Name, BrokerWorld.AdminKey)).ShouldBeTrue();
    }

    [Fact]
    public async Task Client_changes_are_audited_by_name_without_keys()
    {
        var key = await _world.ClientAsync("svc-audited");
        await _world.AdminAsync(HttpMethod.Post, "/admin/clients/svc-audited/rotate", new { overlap_seconds = 60 });
        await _world.AdminAsync(HttpMethod.Post, "/admin/clients/svc-audited/revoke");
        await _world.AdminAsync(HttpMethod.Delete, "/admin/clients/svc-audited", expect: HttpStatusCode.NoContent);

        var rows = (await AuditRows.ReadAsync(_world, "client.%"))
            .Where(r => r.Detail == "client svc-audited" || r.Detail?.StartsWith("client svc-audited;") == true).ToList();
        rows.Select(r => r.Action).ShouldBe(["client.created", "client.key_rotated", "client.revoked", "client.deleted"]);
        var keyBody = key[4..];
        rows.ShouldAllBe(r => r.Client == "bootstrap-admin" && !r.Detail!.Contains(keyBody));
    }
}
