using System.Buffers.Binary;

namespace Broker.Infrastructure.Security;

/// <summary>The SHA-256 of an API key as a value type, to look keys up in memory by value (a cache holding it as an object key still boxes it).</summary>
public readonly record struct ApiKeyDigest(ulong A, ulong B, ulong C, ulong D)
{
    public static ApiKeyDigest From(ReadOnlySpan<byte> sha256) => new(
        BinaryPrimitives.ReadUInt64BigEndian(sha256),
        BinaryPrimitives.ReadUInt64BigEndian(sha256[8..]),
        BinaryPrimitives.ReadUInt64BigEndian(sha256[16..]),
        BinaryPrimitives.ReadUInt64BigEndian(sha256[24..]));

    /// <summary>The digest as stored in <c>clients.key_hash</c>.</summary>
    public byte[] ToArray()
    {
        var bytes = new byte[32];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, A);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(8), B);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(16), C);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(24), D);
        return bytes;
    }

    public override string ToString() => "ApiKeyDigest"; // never printed: it identifies a key
}
