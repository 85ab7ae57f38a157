using Broker.Domain;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace Broker.Infrastructure.Persistence;

/// <summary>Enums are stored as the same lower-case names the API uses, so SQL reads like the JSON.</summary>
internal static class EnumNames
{
    public static readonly ValueConverter<Dialect, string> Dialect =
        new(d => d.ToName(), s => DialectNames.Parse(s));

    public static readonly ValueConverter<AccountState, string> AccountState =
        new(s => s.ToName(), s => AccountStateNames.Parse(s));

    public static readonly ValueConverter<AttentionReason, string> AttentionReason =
        new(r => r.ToName(), s => AttentionReasonNames.Parse(s));

    public static readonly ValueConverter<ClientRole, string> ClientRole =
        new(r => r.ToName(), s => ClientRoleNames.TryParse(s) ?? Domain.ClientRole.Consumer);

    public static readonly ValueConverter<IssuerKind, string> IssuerKind =
        new(k => k.ToName(), s => IssuerKindNames.TryParse(s) ?? Domain.IssuerKind.Jwt);

    public static readonly ValueConverter<CertificateField, string> CertificateField =
        new(f => f.ToName(), s => CertificateFieldNames.TryParse(s) ?? Domain.CertificateField.UriSan);

    public static readonly ValueConverter<ClientAuthentication, string> ClientAuthentication =
        new(a => a == Domain.ClientAuthentication.Body ? "body" : "basic", s => s == "body" ? Domain.ClientAuthentication.Body : Domain.ClientAuthentication.Basic);
}
