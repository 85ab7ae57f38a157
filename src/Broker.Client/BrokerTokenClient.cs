using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Broker.Client;

/// <summary>
/// The broker's consumer API, for code that wants a token in hand rather than on an HttpClient's requests.
/// Every call asks the broker (which serves from its own memory when it can); the handler added by
/// <see cref="BrokerClientExtensions.AddBrokeredToken"/> adds a cache in this process on top.
/// </summary>
/// <remarks>
/// Settings are those of the account asked for (<see cref="BrokeredTokenOptions"/>, named by account). With an
/// <see cref="BrokeredTokenOptions.IdentityTokenFile"/>, a 401 from the broker makes the file be read again and the
/// call sent once more if it holds a new token.
/// </remarks>
public sealed class BrokerTokenClient(
    HttpClient http, IOptionsMonitor<BrokeredTokenOptions> options, TimeProvider time, IdentityTokenFiles identityTokens)
{
    /// <summary>The name of the HttpClient that talks to the broker; configure it through the builder
    /// <see cref="BrokerClientExtensions.AddBrokerTokenClient"/> returns.</summary>
    public const string HttpClientName = "Broker.Client";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Gets a token for <paramref name="account"/> valid for at least <paramref name="minValidity"/>
    /// (default: the account's <see cref="BrokeredTokenOptions.MinValidity"/>).</summary>
    /// <exception cref="BrokerTokenException">The broker answered with an error, or could not be reached.</exception>
    /// <exception cref="OptionsValidationException">The account's settings are not valid.</exception>
    public async Task<BrokeredToken> GetTokenAsync(string account, TimeSpan? minValidity = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(account);
        var settings = options.Get(account);
        var seconds = (long)Math.Ceiling((minValidity ?? settings.MinValidity).TotalSeconds);
        using var response = await SendAsync(HttpMethod.Get, settings, account, $"token?min_validity={seconds.ToString(CultureInfo.InvariantCulture)}", null, ct);
        var receivedAt = time.GetUtcNow();
        if (!response.IsSuccessStatusCode) throw await FailureAsync(account, response, ct);

        TokenAnswer? answer;
        try
        {
            answer = await response.Content.ReadFromJsonAsync<TokenAnswer>(Json, ct);
        }
        catch (JsonException e)
        {
            throw new BrokerTokenException(account, response.StatusCode, null, "The broker's answer is not a token response", null, null, e);
        }
        if (answer is not { AccessToken.Length: > 0 })
            throw new BrokerTokenException(account, response.StatusCode, null, "The broker's answer holds no access token", null, null);

        var expiresAt = answer.ExpiresIn is { } expiresIn && receivedAt.AddSeconds(expiresIn) < answer.ExpiresAt
            ? receivedAt.AddSeconds(expiresIn)
            : answer.ExpiresAt;
        return new BrokeredToken(account, answer.AccessToken, string.IsNullOrEmpty(answer.TokenType) ? "Bearer" : answer.TokenType, expiresAt);
    }

    /// <summary>
    /// Tells the broker that the upstream refused <paramref name="accessToken"/>. The broker drops it if it is
    /// still the current token (so many reports of one token cause one refresh), and the next fetch gets a new one.
    /// </summary>
    /// <exception cref="BrokerTokenException">The broker answered with an error, or could not be reached.</exception>
    public async Task ReportRejectedAsync(string account, string accessToken, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(account);
        ArgumentException.ThrowIfNullOrEmpty(accessToken);
        using var response = await SendAsync(HttpMethod.Post, options.Get(account), account, "token/rejected", new RejectedToken(accessToken), ct);
        if (!response.IsSuccessStatusCode) throw await FailureAsync(account, response, ct);
    }

    /// <summary>
    /// Sends one call to the broker with the key, or the identity file's token. A 401 to a token from the file makes
    /// the file be read again: kubelet may have rotated it since the last check (and the broker refuses an expired
    /// one), so the call is sent once more if the file holds a new token. Never more: a second 401 is the answer.
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(
        HttpMethod method, BrokeredTokenOptions settings, string account, string path, object? body, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(settings.IdentityTokenFile))
            return await SendOnceAsync(method, settings, account, path, body, settings.ClientKey!, ct);

        var bearer = identityTokens.Current(account, settings.IdentityTokenFile, settings.IdentityTokenRecheck);
        var response = await SendOnceAsync(method, settings, account, path, body, bearer, ct);
        if (response.StatusCode != HttpStatusCode.Unauthorized) return response;

        string? fresh;
        try
        {
            fresh = identityTokens.Reread(account, settings.IdentityTokenFile, bearer);
        }
        catch
        {
            response.Dispose();
            throw;
        }
        if (fresh is null) return response;
        response.Dispose();
        return await SendOnceAsync(method, settings, account, path, body, fresh, ct);
    }

    // A request message can be sent only once, so each attempt builds its own.
    private async Task<HttpResponseMessage> SendOnceAsync(
        HttpMethod method, BrokeredTokenOptions settings, string account, string path, object? body, string bearer, CancellationToken ct)
    {
        var baseUrl = settings.BrokerUrl!.AbsoluteUri.EndsWith('/') ? settings.BrokerUrl : new Uri(settings.BrokerUrl.AbsoluteUri + "/");
        using var request = new HttpRequestMessage(method, new Uri(baseUrl, $"v1/accounts/{Uri.EscapeDataString(account)}/{path}"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (body is not null) request.Content = JsonContent.Create(body, options: Json);
        try
        {
            return await http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            throw new BrokerTokenException(account, null, null, "The broker could not be reached", e.Message, null, e);
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new BrokerTokenException(account, null, null, "The broker did not answer in time", null, null, e);
        }
    }

    private async Task<BrokerTokenException> FailureAsync(string account, HttpResponseMessage response, CancellationToken ct)
    {
        Problem? problem = null;
        if (response.Content.Headers.ContentType?.MediaType is "application/problem+json" or "application/json")
        {
            try
            {
                problem = await response.Content.ReadFromJsonAsync<Problem>(Json, ct);
            }
            catch (JsonException)
            {
                // Not a problem document after all (a proxy's error page): the status says enough.
            }
        }

        var retry = response.Headers.RetryAfter;
        TimeSpan? retryAfter = retry?.Delta ?? (retry?.Date is { } date ? date - time.GetUtcNow() : null);
        return new BrokerTokenException(account, response.StatusCode, problem?.Type, problem?.Title ?? response.ReasonPhrase, problem?.Detail, retryAfter);
    }

    private sealed record TokenAnswer(string? AccessToken, string? TokenType, DateTimeOffset ExpiresAt, long? ExpiresIn);

    private sealed record RejectedToken(string AccessToken);

    private sealed record Problem(string? Type, string? Title, string? Detail);
}
