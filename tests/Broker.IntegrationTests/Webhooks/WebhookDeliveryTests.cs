using System.Net;
using System.Security.Cryptography;
using System.Text;
using Broker.Domain;
using Broker.Infrastructure.Webhooks;
using Broker.IntegrationTests.Support;
using Broker.Simulator;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Webhooks;

/// <summary>Events of account state changes reach admins' webhooks: signed, once per webhook, across restarts and instances.</summary>
public sealed class WebhookDeliveryTests : IAsyncLifetime
{
    private static readonly Dictionary<string, string?> Settings = new()
    {
        // The receiver is plain http on loopback, which the world allows for upstreams already.
        ["Broker:Webhooks:AllowPlainHttp"] = "true",
        ["Broker:Webhooks:PollInterval"] = "00:00:00.200",
        ["Broker:Webhooks:RetryBase"] = "00:00:05",
        ["Broker:Webhooks:RetryMax"] = "00:00:30",
    };

    private WebhookReceiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await WebhookReceiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task Needs_attention_and_recovery_arrive_signed_and_without_secrets()
    {
        await using var world = await BrokerWorld.StartAsync(settings: Settings);
        const string secret = "test-webhook-secret-0123456789";
        world.Secrets.Add(secret);
        await CreateWebhookAsync(world, "/hook", secret, WebhookEvents.NeedsAttention, WebhookEvents.Recovered);
        var account = await world.AccountAsync(DialectNames.SlideRule);
        var key = await world.ConsumerAsync(account.Name);
        var token = await world.Broker.TokenAsync(account.Name, key);
        world.Simulator.SetFault(Fault.RejectCredentials, account.Username);
        world.Clock.Advance(SimulatorState.DefaultRefreshLifetime + TimeSpan.FromMinutes(1)); // the next fetch must log in

        (await world.Broker.FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.Conflict);
        var first = (await _receiver.WaitForCountAsync(1))[0];

        first.Event.ShouldBe(WebhookEvents.NeedsAttention);
        VerifySignature(first, secret).ShouldBeTrue();
        VerifySignature(first, "some-other-secret-0123456789").ShouldBeFalse();
        var body = first.Json;
        body["id"]!.GetValue<string>().ShouldBe(first.EventId);
        body["type"]!.GetValue<string>().ShouldBe(WebhookEvents.NeedsAttention);
        body["data"]!["account"]!.GetValue<string>().ShouldBe(account.Name);
        body["data"]!["provider"]!.GetValue<string>().ShouldBe("sim-sliderule");
        body["data"]!["state"]!.GetValue<string>().ShouldBe("needs_attention");
        body["data"]!["last_error"]!.GetValue<string>().ShouldNotBeNullOrEmpty();
        foreach (var hidden in world.Secrets.Append(token)) first.Body.ShouldNotContain(hidden);

        world.Simulator.SetFault(Fault.None, account.Username);
        await world.AdminAsync(HttpMethod.Patch, $"/admin/accounts/{account.Name}", new { password = account.Password });
        var second = (await _receiver.WaitForCountAsync(2))[1];
        second.Event.ShouldBe(WebhookEvents.Recovered);
        VerifySignature(second, secret).ShouldBeTrue();
        second.Json["data"]!["state"]!.GetValue<string>().ShouldBe("active");
        second.EventId.ShouldNotBe(first.EventId);
    }

    [Fact]
    public async Task A_failed_delivery_is_retried_by_the_instance_started_after_a_restart()
    {
        await using var world = await BrokerWorld.StartAsync(settings: Settings);
        _receiver.Answer = n => n == 1 ? 500 : 200;
        var webhook = await CreateWebhookAsync(world, "/hook", null, WebhookEvents.Inactive);
        var account = await world.AccountAsync(DialectNames.SlideRule);
        var key = await world.ConsumerAsync(account.Name);
        world.Simulator.SetFault(Fault.Inactive, account.Username);
        (await world.Broker.FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.Conflict);
        await _receiver.WaitForCountAsync(1);

        await world.RestartBrokersAsync();
        world.Clock.Advance(TimeSpan.FromSeconds(30)); // past the longest first backoff
        var received = await _receiver.WaitForCountAsync(2);
        received[1].EventId.ShouldBe(received[0].EventId);
        received[1].Event.ShouldBe(WebhookEvents.Inactive);

        await world.RestartBrokersAsync(); // the outcome of the send is recorded before the host stops
        var log = await world.AdminAsync(HttpMethod.Get, $"/admin/webhooks/{webhook}/deliveries");
        var item = log["items"]!.AsArray().ShouldHaveSingleItem()!;
        item["event"]!.GetValue<string>().ShouldBe(WebhookEvents.Inactive);
        item["event_id"]!.GetValue<string>().ShouldBe(received[0].EventId);
        item["status"]!.GetValue<string>().ShouldBe("delivered");
        item["attempts"]!.GetValue<int>().ShouldBe(2);
        item["last_status_code"]!.GetValue<int>().ShouldBe(200);
        item["delivered_at"].ShouldNotBeNull();
        log.ToJsonString().ShouldNotContain("v1=");

        world.Clock.Advance(TimeSpan.FromDays(31)); // past Broker:Webhooks:DeliveryRetention
        (await world.Broker.Services.GetRequiredService<RefreshExpiryScanner>().PruneAsync(CancellationToken.None)).ShouldBe(1);
        (await world.AdminAsync(HttpMethod.Get, $"/admin/webhooks/{webhook}/deliveries"))["items"]!.AsArray().ShouldBeEmpty();
    }

    [Fact]
    public async Task Three_instances_deliver_each_event_once_to_each_webhook()
    {
        await using var world = await BrokerWorld.StartAsync(brokers: 3, settings: Settings);
        const int webhooks = 3, events = 4;
        for (var w = 0; w < webhooks; w++) await CreateWebhookAsync(world, $"/hook/{w}", null, WebhookEvents.NeedsAttention);
        for (var e = 0; e < events; e++)
        {
            var account = await world.AccountAsync(DialectNames.SimpleJwt);
            var key = await world.ConsumerAsync(account.Name);
            world.Simulator.SetFault(Fault.RejectCredentials, account.Username);
            (await world.Brokers[e % 3].FetchAsync(account.Name, key)).Status.ShouldBe(HttpStatusCode.Conflict);
        }
        await _receiver.WaitForAsync(r => r.Select(x => (x.Path, x.EventId)).Distinct().Count() == webhooks * events);

        // Once every instance has stopped nothing more can arrive: what the receiver has is all there will be.
        foreach (var broker in world.Brokers) await broker.DisposeAsync();
        world.Brokers.Clear();
        var received = _receiver.Received;
        received.Count.ShouldBe(webhooks * events);
        received.Select(r => (r.Path, r.EventId)).Distinct().Count().ShouldBe(webhooks * events);
        received.Select(r => r.EventId).Distinct().Count().ShouldBe(events);

        (await world.ScalarAsync<long>("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered' AND attempts = 1")).ShouldBe(webhooks * events);
    }

    [Fact]
    public async Task A_receiver_that_never_answers_delays_only_its_own_deliveries()
    {
        // The world's clock stands still, so the hanging delivery's timeout never comes: only a dispatcher that does
        // not wait for it can deliver the other event.
        await using var hanging = await WebhookReceiver.StartAsync();
        hanging.Hangs = true;
        await using var world = await BrokerWorld.StartAsync(settings: Settings);
        await CreateWebhookAsync(world, hanging, "/hook", null, WebhookEvents.NeedsAttention);
        await CreateWebhookAsync(world, "/hook", null, WebhookEvents.Inactive);

        var stuck = await world.AccountAsync(DialectNames.SlideRule);
        world.Simulator.SetFault(Fault.RejectCredentials, stuck.Username);
        (await world.Broker.FetchAsync(stuck.Name, await world.ConsumerAsync(stuck.Name))).Status.ShouldBe(HttpStatusCode.Conflict);
        await hanging.WaitForCountAsync(1); // its delivery is now under way, and stays so

        var gone = await world.AccountAsync(DialectNames.SlideRule);
        world.Simulator.SetFault(Fault.Inactive, gone.Username);
        (await world.Broker.FetchAsync(gone.Name, await world.ConsumerAsync(gone.Name))).Status.ShouldBe(HttpStatusCode.Conflict);
        var healthy = (await _receiver.WaitForCountAsync(1)).ShouldHaveSingleItem();
        healthy.Event.ShouldBe(WebhookEvents.Inactive);
        healthy.Json["data"]!["account"]!.GetValue<string>().ShouldBe(gone.Name);
        hanging.Received.ShouldHaveSingleItem().Event.ShouldBe(WebhookEvents.NeedsAttention);
    }

    [Fact]
    public async Task An_expiring_refresh_token_of_an_account_that_cannot_log_in_is_one_event()
    {
        await using var world = await BrokerWorld.StartAsync(settings: Settings);
        await CreateWebhookAsync(world, "/hook", null, WebhookEvents.RefreshTokenExpiring);
        var stuck = await world.AccountAsync(DialectNames.SlideRule);
        var fine = await world.AccountAsync(DialectNames.SlideRule);
        var key = await world.ConsumerAsync(stuck.Name, fine.Name);
        await world.Broker.TokenAsync(stuck.Name, key);
        await world.Broker.TokenAsync(fine.Name, key);
        // Both refresh tokens lapse within the warning window; only one account has what it needs to log in again.
        await world.ExecuteAsync(
            "UPDATE accounts SET refresh_expires_at = $1, password_encrypted = CASE WHEN name = $2 THEN NULL ELSE password_encrypted END",
            world.Clock.GetUtcNow().AddDays(1), stuck.Name);

        // The host's own first scan may be the one that finds it (on a busy machine it can run this late): what
        // counts is that however many scans, on however many instances, it is one event.
        var scanner = world.Broker.Services.GetRequiredService<RefreshExpiryScanner>();
        var enqueued = await scanner.ScanAsync(CancellationToken.None);
        var received = await _receiver.WaitForCountAsync(1);
        received[0].Event.ShouldBe(WebhookEvents.RefreshTokenExpiring);
        received[0].Json["data"]!["account"]!.GetValue<string>().ShouldBe(stuck.Name);
        received[0].Json["data"]!["refresh_expires_at"].ShouldNotBeNull();

        enqueued += await scanner.ScanAsync(CancellationToken.None);
        (await scanner.PruneAsync(CancellationToken.None)).ShouldBe(0); // young enough to stay in the log
        var another = await world.AddBrokerAsync();
        enqueued += await another.Services.GetRequiredService<RefreshExpiryScanner>().ScanAsync(CancellationToken.None);
        enqueued.ShouldBeLessThanOrEqualTo(1);
        (await DeliveriesAsync(world)).ShouldBe(1);
        _receiver.Received.Count.ShouldBe(1);
    }

    private static Task<long> DeliveriesAsync(BrokerWorld world) => world.ScalarAsync<long>("SELECT count(*) FROM webhook_deliveries");

    [Fact]
    public async Task A_destination_the_broker_may_not_call_fails_at_once_with_the_reason()
    {
        await using var world = await BrokerWorld.StartAsync(settings: Settings);
        var webhook = await CreateWebhookAsync(world, "/hook", null, WebhookEvents.RefreshTokenExpiring);
        var account = await world.AccountAsync(DialectNames.SlideRule);
        await world.Broker.TokenAsync(account.Name, await world.ConsumerAsync(account.Name));
        // The webhook was accepted while loopback was allowed; now it is not.
        world.Settings.Remove("Broker:Upstream:AllowedNetworks:0");
        world.Settings.Remove("Broker:Upstream:AllowedNetworks:1");
        await world.RestartBrokersAsync();
        var outcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        world.Broker.Services.GetRequiredService<WebhookDispatcher>().Recorded += (_, status) => outcome.TrySetResult(status);
        await world.ExecuteAsync("UPDATE accounts SET refresh_expires_at = $1, password_encrypted = NULL", world.Clock.GetUtcNow().AddDays(1));

        // The restarted host's own first scan may run after the update and enqueue the event before this one does.
        await world.Broker.Services.GetRequiredService<RefreshExpiryScanner>().ScanAsync(CancellationToken.None);

        (await outcome.Task.WaitAsync(TimeSpan.FromSeconds(60))).ShouldBe("failed");
        var item = (await world.AdminAsync(HttpMethod.Get, $"/admin/webhooks/{webhook}/deliveries"))["items"]!.AsArray().ShouldHaveSingleItem()!;
        item["status"]!.GetValue<string>().ShouldBe("failed");
        item["attempts"]!.GetValue<int>().ShouldBe(1);
        item["last_error"]!.GetValue<string>().ShouldContain("network the broker may not call");
        _receiver.Received.ShouldBeEmpty();
    }

    private Task<string> CreateWebhookAsync(BrokerWorld world, string path, string? secret, params string[] events) =>
        CreateWebhookAsync(world, _receiver, path, secret, events);

    private static async Task<string> CreateWebhookAsync(BrokerWorld world, WebhookReceiver receiver, string path, string? secret, params string[] events)
    {
        var created = await world.AdminAsync(HttpMethod.Post, "/admin/webhooks", new { url = receiver.Url(path), secret, events },
            HttpStatusCode.Created);
        return created["id"]!.GetValue<string>();
    }

    /// <summary>What a receiver does (docs/webhooks.md): HMAC of "t.body" under the secret, compared in constant time.</summary>
    private static bool VerifySignature(ReceivedWebhook request, string secret)
    {
        var parts = request.Signature!.Split(',').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var expected = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{parts["t"]}.{request.Body}"));
        return CryptographicOperations.FixedTimeEquals(expected, Convert.FromHexString(parts["v1"]));
    }
}
