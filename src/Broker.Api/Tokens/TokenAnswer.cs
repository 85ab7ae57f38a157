using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Options;
using JsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;

namespace Broker.Api.Tokens;

/// <summary>
/// The 200 answer of a token fetch: the JSON of <see cref="TokenResponse"/> (the API's serializer settings) written in
/// one piece with its length. <c>TypedResults.Ok</c> streams it through the serializer's async writer and answers
/// chunked, which on the hot path costs more CPU, allocations and bytes than the ~400-byte answer itself.
/// </summary>
public sealed class TokenAnswer(TokenResponse token) : IResult, IStatusCodeHttpResult, IValueHttpResult<TokenResponse>
{
    public TokenResponse Value => token;
    public int? StatusCode => StatusCodes.Status200OK;

    public Task ExecuteAsync(HttpContext http)
    {
        var options = http.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        var json = JsonSerializer.SerializeToUtf8Bytes(token, (JsonTypeInfo<TokenResponse>)options.GetTypeInfo(typeof(TokenResponse)));
        var response = http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = json.Length;
        return response.Body.WriteAsync(json, http.RequestAborted).AsTask();
    }
}
