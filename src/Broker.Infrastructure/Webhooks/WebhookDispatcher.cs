using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Broker.Domain;
using Broker.Infrastructure.Outbound;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Broker.Infrastructure.Webhooks;

/// <summary>
/// Sends the outbox's due deliveries, on every instance. A row is claimed by leasing it: one statement (<c>FOR UPDATE
/// SKIP LOCKED</c>, committed before anything is sent) moves its <c>next_attempt_at</c> past the send's timeout, so no
/// other instance takes it while it is sent; an instance that dies mid-send leaves the lease to run out, and another
/// sends the row again (at least once: receivers de-duplicate on <c>Broker-Event-Id</c>). The lease read back is the
/// claim's token: an outcome is recorded only while the row still holds it. Claimed rows are sent concurrently, at
/// most <see cref="WebhookOptions.ConcurrencyPerHost"/> at a time to one host, so a slow or dead receiver holds up
/// only its own deliveries. The <see cref="ChangeFeed"/> wakes it when an event is committed (on any instance), as does a
/// finished send;
/// <see cref="WebhookOptions.PollInterval"/> finds retries that came due.
/// </summary>
public sealed partial class WebhookDispatcher(
    NpgsqlDataSource dataSource,
    ChangeFeed changes,
    IHttpClientFactory httpClients,
    SecretProtector secrets,
    IOptions<WebhookOptions> options,
    TimeProvider time,
    ILogger<WebhookDispatcher> logger) : SupervisedLoop(time, logger)
{
    public const string HttpClientName = "webhooks";
    private const int BatchSize = 20;
    /// <summary>Deliveries one instance sends at once, over all hosts.</summary>
    private const int MaxInFlight = 64;
    /// <summary>How long a stopping instance lets its sends finish before it abandons them to another instance.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly HttpClient _http = httpClients.CreateClient(HttpClientName);
    private readonly CancellationTokenSource _abandon = new();
    private readonly Lock _sending = new();
    private readonly HashSet<Task> _inFlight = [];
    private readonly Dictionary<string, int> _perHost = [];
    private readonly Dictionary<Guid, string> _hostOfWebhook = [];

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        Action wake = () => _wake.Writer.TryWrite(true);
        changes.WebhookEventsCommitted += wake;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    while (await DeliverDueAsync(stoppingToken) > 0)
                    {
                    }
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    // A database outage must not end the loop; the next wake or poll tries again.
                    LogPassFailed(e);
                }
                using var waiting = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                await Task.WhenAny(_wake.Reader.WaitToReadAsync(waiting.Token).AsTask(), Task.Delay(options.Value.PollInterval, Clock, waiting.Token));
                await waiting.CancelAsync();
                _wake.Reader.TryRead(out _);
            }
        }
        finally
        {
            changes.WebhookEventsCommitted -= wake;
            await DrainAsync();
        }
    }

    /// <summary>
    /// Lets the sends under way finish (their outcome is recorded), for a moment of real time: a receiver that does
    /// not answer must not hold up the host's shutdown. What is still unanswered then is given back for another
    /// instance to send.
    /// </summary>
    private async Task DrainAsync()
    {
        Task all;
        lock (_sending) all = Task.WhenAll(_inFlight);
        await Task.WhenAny(all, Task.Delay(StopGrace, TimeProvider.System));
        await _abandon.CancelAsync();
        await all;
    }

    /// <summary>Raised with a delivery's id and new status once an attempt's outcome is committed (for tests and diagnostics).</summary>
    public event Action<Guid, string>? Recorded;

    /// <summary>
    /// One pass: leases up to <see cref="BatchSize"/> due rows no other instance holds and starts sending each whose
    /// host has a free slot; a row whose host is busy is given back at once and its webhook left out of later claims
    /// while the host stays busy. Returns how many rows it claimed (0: nothing more to do now).
    /// </summary>
    public async Task<int> DeliverDueAsync(CancellationToken ct)
    {
        var settings = options.Value;
        List<Guid> busyWebhooks;
        int room;
        lock (_sending)
        {
            _inFlight.RemoveWhere(t => t.IsCompleted);
            room = Math.Min(BatchSize, MaxInFlight - _inFlight.Count);
            busyWebhooks = [.. _hostOfWebhook.Where(w => _perHost.GetValueOrDefault(w.Value) >= settings.ConcurrencyPerHost).Select(w => w.Key)];
        }
        if (room <= 0) return 0;

        var now = Clock.GetUtcNow();
        var claimed = new List<Due>();
        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        await using (var claim = new NpgsqlCommand(
            """
            UPDATE webhook_deliveries d SET next_attempt_at = $3
            FROM webhooks w
            WHERE w.id = d.webhook_id AND d.id IN (
                SELECT id FROM webhook_deliveries
                WHERE status = 'pending' AND next_attempt_at <= $1 AND NOT (webhook_id = ANY($4))
                ORDER BY next_attempt_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED)
            RETURNING d.id, d.webhook_id, d.event_id, d.event, d.payload::text, d.attempts, d.created_at, w.url, w.secret_encrypted, d.next_attempt_at
            """, connection))
        {
            claim.Parameters.Add(new() { Value = now });
            claim.Parameters.Add(new() { Value = room });
            // Past the send's timeout and the recording after it; only an instance that died leaves a lease to run out.
            claim.Parameters.Add(new() { Value = now + settings.Timeout * 2 + TimeSpan.FromSeconds(30) });
            claim.Parameters.Add(new() { Value = busyWebhooks.ToArray() });
            await using var reader = await claim.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                claimed.Add(new Due(reader.GetGuid(0), reader.GetGuid(1), reader.GetGuid(2), reader.GetString(3), reader.GetString(4),
                    reader.GetInt32(5), reader.GetFieldValue<DateTimeOffset>(6), reader.GetString(7), reader.GetString(8),
                    reader.GetFieldValue<DateTimeOffset>(9)));
        }

        foreach (var delivery in claimed)
        {
            var host = HostOf(delivery.Url);
            bool start;
            lock (_sending)
            {
                _hostOfWebhook[delivery.WebhookId] = host;
                start = _perHost.GetValueOrDefault(host) < settings.ConcurrencyPerHost;
                if (start) _perHost[host] = _perHost.GetValueOrDefault(host) + 1;
            }
            if (!start)
            {
                await GiveBackAsync(delivery, now, CancellationToken.None);
                continue;
            }
            var sending = Task.Run(() => SendAndRecordAsync(delivery, host), CancellationToken.None);
            lock (_sending)
                if (!sending.IsCompleted) _inFlight.Add(sending);
        }
        return claimed.Count;
    }

    private static string HostOf(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var parsed) ? parsed.Authority.ToLowerInvariant() : "";

    /// <summary>Sends one leased delivery and records its outcome; never throws (a bad row must not stop the others).</summary>
    private async Task SendAndRecordAsync(Due delivery, string host)
    {
        try
        {
            var outcome = await SendAsync(delivery);
            if (outcome is null)
            {
                await GiveBackAsync(delivery, Clock.GetUtcNow(), CancellationToken.None);
                return;
            }
            // Not cancelled by shutdown: a delivery that was made is recorded as made.
            var status = await RecordAsync(delivery, outcome, CancellationToken.None);
            if (status is not null) Recorded?.Invoke(delivery.Id, status);
        }
        catch (Exception e)
        {
            // The lease runs out and the row is sent again.
            LogSendFailed(e, delivery.WebhookId, delivery.EventId);
        }
        finally
        {
            lock (_sending)
            {
                _perHost[host]--;
                if (_perHost[host] == 0) _perHost.Remove(host);
                _inFlight.RemoveWhere(t => t.IsCompleted);
            }
            _wake.Writer.TryWrite(true); // a slot is free: rows left for this host can go now
        }
    }

    /// <summary>Ends a lease without an attempt, so the row is due again (by <paramref name="dueAt"/>).</summary>
    private async Task GiveBackAsync(Due delivery, DateTimeOffset dueAt, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var update = new NpgsqlCommand(
            "UPDATE webhook_deliveries SET next_attempt_at = $3 WHERE id = $1 AND status = 'pending' AND next_attempt_at = $2", connection);
        update.Parameters.Add(new() { Value = delivery.Id });
        update.Parameters.Add(new() { Value = delivery.Lease });
        update.Parameters.Add(new() { Value = dueAt });
        await update.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The attempt's outcome, or null when the instance stopped before the receiver answered.</summary>
    private async Task<Outcome?> SendAsync(Due delivery)
    {
        var settings = options.Value;
        if (!Uri.TryCreate(delivery.Url, UriKind.Absolute, out var url))
            return Outcome.GiveUp("the webhook URL is not an absolute URL");
        if (url.Scheme == Uri.UriSchemeHttp && !settings.AllowPlainHttp)
            return Outcome.GiveUp("the webhook URL is plain http, which Broker:Webhooks:AllowPlainHttp does not allow");
        if (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp)
            return Outcome.GiveUp("the webhook URL is neither http nor https");
        string secret;
        try
        {
            secret = secrets.Unprotect(SecretKind.WebhookSecret, delivery.SecretEncrypted);
        }
        catch (CryptographicException)
        {
            return Outcome.GiveUp("the webhook's secret cannot be decrypted; give the webhook a new secret");
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new StringContent(delivery.Payload, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Broker-Event-Id", delivery.EventId.ToString());
        request.Headers.Add("Broker-Event", delivery.Event);
        request.Headers.Add(WebhookSignature.Header, WebhookSignature.Sign(secret, Clock.GetUtcNow().ToUnixTimeSeconds(), delivery.Payload));
        using var timeout = new CancellationTokenSource(settings.Timeout, Clock);
        using var sendToken = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _abandon.Token);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, sendToken.Token);
            var status = (int)response.StatusCode;
            return status is >= 200 and < 300 ? Outcome.Delivered(status) : Outcome.Retry(status, $"the receiver answered HTTP {status}");
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return Outcome.Retry(null, $"no answer within {settings.Timeout.TotalSeconds} s");
        }
        catch (OperationCanceledException) when (_abandon.IsCancellationRequested)
        {
            return null;
        }
        catch (HttpRequestException e) when (Refused(e) is { } refused)
        {
            return Outcome.GiveUp(refused.Message);
        }
        catch (HttpRequestException e)
        {
            return Outcome.Retry(null, e.Message);
        }
    }

    private static OutboundDestinationRefusedException? Refused(Exception e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
            if (inner is OutboundDestinationRefusedException refused) return refused;
        return null;
    }

    /// <summary>Records an attempt's outcome while the row still holds this claim's lease; the new status, or null if the lease was lost.</summary>
    private async Task<string?> RecordAsync(Due delivery, Outcome outcome, CancellationToken ct)
    {
        var settings = options.Value;
        var now = Clock.GetUtcNow();
        var attempts = delivery.Attempts + 1;
        var status = outcome.Success ? WebhookDeliveryStatus.Delivered
            : outcome.Final || attempts >= settings.MaxAttempts || now - delivery.CreatedAt >= settings.MaxAge ? WebhookDeliveryStatus.Failed
            : WebhookDeliveryStatus.Pending;
        var next = status == WebhookDeliveryStatus.Pending ? now + Backoff(attempts, settings) : now;
        if (!outcome.Success)
            LogAttemptFailed(delivery.WebhookId, delivery.Event, delivery.EventId, attempts, status, outcome.StatusCode);

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var update = new NpgsqlCommand(
            """
            UPDATE webhook_deliveries
            SET status = $2, attempts = $3, next_attempt_at = $4, last_status_code = $5, last_error = $6, delivered_at = $7
            WHERE id = $1 AND status = 'pending' AND next_attempt_at = $8
            """, connection);
        update.Parameters.Add(new() { Value = delivery.Id });
        update.Parameters.Add(new() { Value = status });
        update.Parameters.Add(new() { Value = attempts });
        update.Parameters.Add(new() { Value = next });
        update.Parameters.Add(new() { Value = (object?)outcome.StatusCode ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer });
        update.Parameters.Add(new() { Value = (object?)SafeText.Shorten(outcome.Error, Limits.Detail) ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Varchar });
        update.Parameters.Add(new() { Value = outcome.Success ? now : DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        update.Parameters.Add(new() { Value = delivery.Lease });
        return await update.ExecuteNonQueryAsync(ct) == 1 ? status : null;
    }

    /// <summary>
    /// Exponential backoff with full jitter: anywhere below a cap that doubles with each attempt, so receivers that
    /// failed together are not retried together. At least a second, so a retry is never an immediate replay.
    /// </summary>
    public static TimeSpan Backoff(int attempts, WebhookOptions settings)
    {
        var cap = Math.Min(settings.RetryMax.Ticks, settings.RetryBase.Ticks * Math.Pow(2, Math.Min(attempts - 1, 30)));
        var floor = Math.Min(TimeSpan.TicksPerSecond, cap);
        return TimeSpan.FromTicks((long)(floor + (cap - floor) * Random.Shared.NextDouble()));
    }

    private sealed record Due(Guid Id, Guid WebhookId, Guid EventId, string Event, string Payload, int Attempts, DateTimeOffset CreatedAt,
        string Url, string SecretEncrypted, DateTimeOffset Lease);

    private sealed record Outcome(bool Success, bool Final, int? StatusCode, string? Error)
    {
        public static Outcome Delivered(int status) => new(true, true, status, null);
        public static Outcome Retry(int? status, string error) => new(false, false, status, error);
        public static Outcome GiveUp(string error) => new(false, true, null, error);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook delivery pass failed; the next wake or poll tries again")]
    private partial void LogPassFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {WebhookId}: sending event {EventId} failed unexpectedly; it is sent again when its lease runs out")]
    private partial void LogSendFailed(Exception exception, Guid webhookId, Guid eventId);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Webhook {WebhookId}: delivery of {Event} {EventId} failed (attempt {Attempts}, now {Status}, HTTP status {StatusCode})")]
    private partial void LogAttemptFailed(Guid webhookId, string @event, Guid eventId, int attempts, string status, int? statusCode);
}
