namespace Broker.Domain;

/// <summary>
/// What a token may be: RFC 6749 Appendix A.12/A.17 define access and refresh tokens as 1*VSCHAR (printable ASCII,
/// 0x20-0x7E), and no real token is longer than 16 KiB (a JWT full of group claims stays well under). Upstream
/// answers and tokens an admin imports are held to the same rule.
/// </summary>
public static class TokenText
{
    public const int MaxLength = 16 * 1024;

    public static bool IsValid(string token)
    {
        if (token.Length > MaxLength) return false;
        foreach (var c in token)
        {
            if (c is < '\x20' or > '\x7E') return false;
        }
        return true;
    }
}
