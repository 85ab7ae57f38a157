using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;

// The ceiling the broker's cached fetch is measured against: a separate process on the same machine, measured with
// the same load tool, that does the least a token endpoint can do — check the bearer key's SHA-256 in constant time
// and answer the broker's JSON shape. Whatever the broker costs beyond this is its pipeline and its token work.
// Usage: Broker.Bench.Ceiling --urls=http://127.0.0.1:PORT, with CEILING_KEY set to the one key it accepts.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, CeilingJson.Default));
var app = builder.Build();

var expected = SHA256.HashData(Encoding.UTF8.GetBytes(Environment.GetEnvironmentVariable("CEILING_KEY") ?? throw new InvalidOperationException("CEILING_KEY is not set")));
var expiresAt = DateTimeOffset.UtcNow.AddDays(1);
const string AccessToken = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjZWlsaW5nIn0.c2lnbmF0dXJlLW9mLXRoZS1jZWlsaW5nLXRva2Vu";

app.MapGet("/v1/accounts/{account}/token", (string account, HttpRequest request) =>
{
    var header = request.Headers.Authorization.ToString();
    if (!header.StartsWith("Bearer ", StringComparison.Ordinal)) return Results.StatusCode(401);
    Span<byte> digest = stackalloc byte[32];
    SHA256.HashData(Encoding.UTF8.GetBytes(header[7..]), digest);
    if (!CryptographicOperations.FixedTimeEquals(digest, expected)) return Results.StatusCode(401);
    var left = expiresAt - DateTimeOffset.UtcNow;
    return TypedResults.Ok(new CeilingToken(AccessToken, "Bearer", expiresAt, (long)left.TotalSeconds, account));
});
app.MapGet("/health/ready", () => TypedResults.Ok());
app.Run();

internal sealed record CeilingToken(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("token_type")] string TokenType,
    [property: JsonPropertyName("expires_at")] DateTimeOffset ExpiresAt,
    [property: JsonPropertyName("expires_in")] long ExpiresIn,
    [property: JsonPropertyName("account")] string Account);

[JsonSerializable(typeof(CeilingToken))]
internal sealed partial class CeilingJson : JsonSerializerContext;
