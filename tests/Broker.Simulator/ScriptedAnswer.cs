namespace Broker.Simulator;

/// <summary>
/// An answer given byte for byte instead of the dialect's own, to whatever token request is traced to a user
/// (see <see cref="SimulatorState.SetScript"/>): any status, any content type, any bytes, with or without a
/// Content-Length, optionally dripped a chunk at a time. For testing what a hostile or broken upstream can do.
/// </summary>
/// <param name="ContentType">Null sends no Content-Type header.</param>
/// <param name="WithContentLength">False sends the body chunked, so its size is unknown until it ends.</param>
/// <param name="ChunkBytes">The size of each write; with <paramref name="ChunkDelay"/>, a slow drip.</param>
public sealed record ScriptedAnswer(
    int Status,
    string? ContentType,
    byte[] Body,
    bool WithContentLength = true,
    int ChunkBytes = 64 * 1024,
    TimeSpan ChunkDelay = default)
{
    public static ScriptedAnswer Json(int status, string json) =>
        new(status, "application/json", System.Text.Encoding.UTF8.GetBytes(json));

    internal async Task WriteAsync(HttpResponse response, CancellationToken ct)
    {
        response.StatusCode = Status;
        if (ContentType is not null) response.ContentType = ContentType;
        // HTTP forbids a body (and its length) on 1xx, 204 and 304: Kestrel refuses them, so send those bare.
        var bodiless = Status is < 200 or StatusCodes.Status204NoContent or StatusCodes.Status304NotModified;
        if (WithContentLength && !bodiless) response.ContentLength = Body.Length;
        if (bodiless)
        {
            await response.StartAsync(ct);
            return;
        }
        await response.StartAsync(ct);
        for (var offset = 0; offset < Body.Length; offset += Math.Max(1, ChunkBytes))
        {
            if (offset > 0 && ChunkDelay > TimeSpan.Zero) await Task.Delay(ChunkDelay, ct);
            await response.Body.WriteAsync(Body.AsMemory(offset, Math.Min(Math.Max(1, ChunkBytes), Body.Length - offset)), ct);
            await response.Body.FlushAsync(ct);
        }
    }
}
