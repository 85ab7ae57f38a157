namespace Broker.Domain;

/// <summary>
/// An identity bound to a client: tokens of <see cref="IssuerId"/> whose <c>sub</c> matches <see cref="Subject"/>
/// (exact, or a glob where <c>*</c> stands for any run of characters, e.g. <c>system:serviceaccount:payments:*</c>)
/// and whose claims have the values in <see cref="Claims"/> authenticate as the client. For an X.509 issuer,
/// <see cref="Subject"/> is matched the same way against the client certificate's URI SAN (a SPIFFE ID), or its
/// subject distinguished name where <see cref="CertificateField"/> says so.
/// </summary>
public sealed class IdentityBinding
{
    public Guid Id { get; set; }
    public Guid ClientId { get; set; }
    public Guid IssuerId { get; set; }
    public required string Subject { get; set; }
    /// <summary>Claim path (dots descend into objects: <c>kubernetes.io.namespace</c>) → the string value it must have.</summary>
    public Dictionary<string, string>? Claims { get; set; }
    /// <summary>What of a client certificate <see cref="Subject"/> is matched against; null for a binding to a JWT issuer.</summary>
    public CertificateField? CertificateField { get; set; }
    public DateTimeOffset CreatedAt { get; set; }

    public bool SubjectMatches(string subject) => Glob.Matches(Subject, subject);

    /// <summary>
    /// Whether a client certificate with these names is this binding's: one of its URI SANs (a certificate may carry
    /// several; an X.509-SVID carries one), or its subject DN as .NET writes it (<c>CN=payments, O=Acme</c>).
    /// </summary>
    public bool CertificateMatches(IReadOnlyList<string> uriSans, string subjectDn) =>
        CertificateField == Domain.CertificateField.SubjectDn ? SubjectMatches(subjectDn) : uriSans.Any(SubjectMatches);
}

/// <summary>The name of a client certificate a binding matches.</summary>
public enum CertificateField
{
    /// <summary>A URI subject alternative name, e.g. <c>spiffe://cluster.local/ns/payments/sa/api</c>.</summary>
    UriSan,
    /// <summary>The subject distinguished name, e.g. <c>CN=payments, OU=services, O=Acme</c>.</summary>
    SubjectDn,
}

public static class CertificateFieldNames
{
    public static string ToName(this CertificateField field) => field == CertificateField.SubjectDn ? "subject_dn" : "uri_san";

    public static CertificateField? TryParse(string? name) => name switch
    {
        "uri_san" => CertificateField.UriSan,
        "subject_dn" => CertificateField.SubjectDn,
        _ => null,
    };
}

/// <summary>Glob matching where <c>*</c> matches any run of characters (none included) and every other character itself.</summary>
public static class Glob
{
    public static bool Matches(string pattern, string text) => Matches(pattern.AsSpan(), text.AsSpan());

    private static bool Matches(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        // Greedy with one backtrack point: linear in practice, never exponential.
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*') { star = p++; mark = t; }
            else if (p < pattern.Length && pattern[p] == text[t]) { p++; t++; }
            else if (star >= 0) { p = star + 1; t = ++mark; }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }
}
