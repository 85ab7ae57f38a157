using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace Broker.Api.Audit;

/// <summary>
/// The opaque keyset position of <c>GET /admin/audit</c>: the (at, id) of the last item of a page. The next page
/// holds the events strictly before it in (at, id) order, so events arriving meanwhile never shift a page.
/// </summary>
public readonly record struct AuditCursor(DateTimeOffset At, long Id)
{
    public string Encode() => Base64Url.EncodeToString(Encoding.ASCII.GetBytes(
        $"{At.UtcTicks.ToString(CultureInfo.InvariantCulture)}.{Id.ToString(CultureInfo.InvariantCulture)}"));

    public static bool TryDecode(string text, out AuditCursor cursor)
    {
        cursor = default;
        if (text.Length > 64) return false;
        var bytes = new byte[Base64Url.GetMaxDecodedLength(text.Length)];
        if (Base64Url.DecodeFromChars(text, bytes, out _, out var written) != System.Buffers.OperationStatus.Done) return false;
        var parts = Encoding.ASCII.GetString(bytes, 0, written).Split('.');
        if (parts.Length != 2 ||
            !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) ||
            !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var id) ||
            ticks > DateTimeOffset.MaxValue.UtcTicks)
            return false;
        cursor = new AuditCursor(new DateTimeOffset(ticks, TimeSpan.Zero), id);
        return true;
    }
}
