using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Broker.Domain;
using Broker.Infrastructure.Outbound;
using Broker.Infrastructure.Persistence;
using Broker.Infrastructure.Security;
using Broker.Infrastructure.Upstream.Dialects;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Broker.Infrastructure.Webhooks;

/// <summary>
/// Sends the outbox's due deliveries, on every instance. Rows are claimed with <c>FOR UPDATE SKIP LOCKED</c> and
/// kept locked while they are sent, so no two instances send one row at the same time; an instance that dies mid-send
/// releases its rows with its transaction, and another sends them again (at least once: receivers de-duplicate on
/// <c>Broker-Event-Id</c>). The <see cref="ChangeFeed"/> wakes it when an event is committed (on any instance);
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

    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly HttpClient _http = httpClients.CreateClient(HttpClientName);

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
                    while (await DeliverDueAsync(stoppingToken) == BatchSize)
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
        }
    }

    /// <summary>Raised with a delivery's id and new status once an attempt's outcome is committed (for tests and diagnostics).</summary>
    public event Action<Guid, string>? Recorded;

    /// <summary>One batch: claims up to <see cref="BatchSize"/> due rows no other instance holds and sends each. Returns how many.</summary>
    public async Task<int> DeliverDueAsync(CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var due = new List<Due>();
        await using (var claim = new NpgsqlCommand(
            """
            SELECT d.id, d.webhook_id, d.event_id, d.event, d.payload::text, d.attempts, d.created_at, w.url, w.secret_encrypted
            FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
            WHERE d.status = 'pending' AND d.next_attempt_at <= $1
            ORDER BY d.next_attempt_at
            LIMIT $2
            FOR UPDATE OF d SKIP LOCKED
            """, connection, tx))
        {
            claim.Parameters.Add(new() { Value = Clock.GetUtcNow() });
            claim.Parameters.Add(new() { Value = BatchSize });
            await using var reader = await claim.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                due.Add(new Due(reader.GetGuid(0), reader.GetGuid(1), reader.GetGuid(2), reader.GetString(3), reader.GetString(4),
                    reader.GetInt32(5), reader.GetFieldValue<DateTimeOffset>(6), reader.GetString(7), reader.GetString(8)));
        }

        var recorded = new List<(Guid, string)>();
        foreach (var delivery in due)
        {
            if (ct.IsCancellationRequested) break; // the rest stay pending for whoever runs next
            var outcome = await SendAsync(delivery);
            // Not cancelled by shutdown: a delivery that was made is recorded as made.
            recorded.Add((delivery.Id, await RecordAsync(connection, tx, delivery, outcome, CancellationToken.None)));
        }
        await tx.CommitAsync(CancellationToken.None);
        foreach (var (id, status) in recorded) Recorded?.Invoke(id, status);
        return due.Count;
    }

    private async Task<Outcome> SendAsync(Due delivery)
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
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            return status is >= 200 and < 300 ? Outcome.Delivered(status) : Outcome.Retry(status, $"the receiver answered HTTP {status}");
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return Outcome.Retry(null, $"no answer within {settings.Timeout.TotalSeconds} s");
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

    private async Task<string> RecordAsync(NpgsqlConnection connection, NpgsqlTransaction tx, Due delivery, Outcome outcome, CancellationToken ct)
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

        await using var update = new NpgsqlCommand(
            """
            UPDATE webhook_deliveries
            SET status = $2, attempts = $3, next_attempt_at = $4, last_status_code = $5, last_error = $6, delivered_at = $7
            WHERE id = $1
            """, connection, tx);
        update.Parameters.Add(new() { Value = delivery.Id });
        update.Parameters.Add(new() { Value = status });
        update.Parameters.Add(new() { Value = attempts });
        update.Parameters.Add(new() { Value = next });
        update.Parameters.Add(new() { Value = (object?)outcome.StatusCode ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer });
        update.Parameters.Add(new() { Value = (object?)SafeText.Shorten(outcome.Error, Limits.Detail) ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Varchar });
        update.Parameters.Add(new() { Value = outcome.Success ? now : DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        await update.ExecuteNonQueryAsync(ct);
        return status;
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
        string Url, string SecretEncrypted);

    private sealed record Outcome(bool Success, bool Final, int? StatusCode, string? Error)
    {
        public static Outcome Delivered(int status) => new(true, true, status, null);
        public static Outcome Retry(int? status, string error) => new(false, false, status, error);
        public static Outcome GiveUp(string error) => new(false, true, null, error);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook delivery pass failed; the next wake or poll tries again")]
    private partial void LogPassFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Webhook {WebhookId}: delivery of {Event} {EventId} failed (attempt {Attempts}, now {Status}, HTTP status {StatusCode})")]
    private partial void LogAttemptFailed(Guid webhookId, string @event, Guid eventId, int attempts, string status, int? statusCode);
}
