using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;

namespace Broker.Client;

/// <summary>
/// Puts the account's token on each request as <c>Authorization: {token_type} {access_token}</c> (replacing any
/// Authorization header already set). When the upstream answers 401 or 403, the token is reported to the broker
/// as rejected and the request is sent once more with a fresh token; whatever that second attempt gets is the
/// answer, so a refusing upstream costs one retry, never a loop.
/// </summary>
/// <remarks>
/// The retry sends the same request again, content included: content that can be read only once (a
/// <see cref="StreamContent"/> over a non-seekable stream) should be buffered by the caller first
/// (<see cref="HttpContent.LoadIntoBufferAsync()"/>).
/// </remarks>
internal sealed partial class BrokeredTokenHandler(string account, BrokeredTokenCache tokens, ILogger<BrokeredTokenHandler> logger)
    : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var token = await tokens.GetAsync(account, ct);
        Authorize(request, token);
        var response = await base.SendAsync(request, ct);
        if (response.StatusCode is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)) return response;

        BrokeredToken fresh;
        try
        {
            fresh = await tokens.RenewAfterRejectionAsync(token, ct);
        }
        catch
        {
            response.Dispose();
            throw;
        }

        if (fresh.AccessToken == token.AccessToken)
        {
            // The broker still stands by the refused token: another try would be refused the same way.
            LogNotRetried(logger, (int)response.StatusCode, account);
            return response;
        }

        LogRetrying(logger, (int)response.StatusCode, account);
        response.Dispose();
        Authorize(request, fresh);
        return await base.SendAsync(request, ct);
    }

    private static void Authorize(HttpRequestMessage request, BrokeredToken token) =>
        request.Headers.Authorization = new AuthenticationHeaderValue(token.TokenType, token.AccessToken);

    [LoggerMessage(Level = LogLevel.Information, Message = "Upstream answered {Status} with the token of account {Account}; retrying once with a fresh token")]
    private static partial void LogRetrying(ILogger logger, int status, string account);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Upstream answered {Status} with the token of account {Account}, and the broker has no other token; not retrying")]
    private static partial void LogNotRetried(ILogger logger, int status, string account);
}
