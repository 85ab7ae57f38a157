namespace Broker.Domain;

/// <summary>Why an account is blocked (not <see cref="AccountState.Active"/>): what an admin has to do about it.</summary>
public enum AttentionReason
{
    /// <summary>The upstream refused the credentials: an admin enters new ones.</summary>
    CredentialsRejected,

    /// <summary>A credential the dialect logs in with is not stored: an admin enters it, or imports a refresh token.</summary>
    SecretsMissing,

    /// <summary>The upstream says the user is inactive.</summary>
    Inactive,

    /// <summary>
    /// The account cannot log in by itself and its refresh token is dead (refused, expired, or lost in an
    /// interrupted refresh): a person must consent again and an admin import the new refresh token.
    /// </summary>
    ReconnectRequired,
}

public static class AttentionReasonNames
{
    public static string ToName(this AttentionReason reason) => reason switch
    {
        AttentionReason.CredentialsRejected => "credentials_rejected",
        AttentionReason.SecretsMissing => "secrets_missing",
        AttentionReason.Inactive => "inactive",
        AttentionReason.ReconnectRequired => "reconnect_required",
        _ => throw new ArgumentOutOfRangeException(nameof(reason)),
    };

    public static AttentionReason Parse(string name) => name switch
    {
        "credentials_rejected" => AttentionReason.CredentialsRejected,
        "secrets_missing" => AttentionReason.SecretsMissing,
        "inactive" => AttentionReason.Inactive,
        "reconnect_required" => AttentionReason.ReconnectRequired,
        _ => throw new ArgumentException($"Unknown attention reason '{name}'.", nameof(name)),
    };
}
