namespace Broker.Infrastructure.Persistence;

/// <summary>Column lengths, shared by the EF model and the API's validation so a valid request always fits.</summary>
public static class Limits
{
    public const int Name = 100;
    public const int Identifier = 200;
    public const int Url = 2000;
    public const int Scope = 1000;
    public const int Detail = 500;
    public const int Secret = 4000;
    /// <summary>How a caller authenticated, in the audit trail (an issuer and a subject can be long).</summary>
    public const int Identity = 300;
}
