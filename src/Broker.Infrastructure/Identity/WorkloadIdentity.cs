using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Broker.Domain;
using Broker.Infrastructure.Security;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Broker.Infrastructure.Identity;

/// <summary>
/// Authenticates a caller by its workload identity: a JWT from a trusted issuer (RFC 7519, checked as RFC 8725 says:
/// signature with the issuer's own keys and an asymmetric algorithm it allows, exact <c>iss</c>, the broker's
/// <c>aud</c>, <c>exp</c>/<c>nbf</c>/<c>iat</c> with clock skew, a lifetime no longer than the issuer's limit), then
/// the one client whose identity binding matches its subject and claims. A validated token is remembered by its
/// SHA-256 until its <c>exp</c> (or until the directory changes), so a service's repeated requests cost no signature
/// check; new tokens are checked at most <see cref="WorkloadIdentityOptions.SignatureChecksPerSecond"/> a second.
/// </summary>
public sealed class WorkloadIdentity(ClientDirectory directory, IssuerKeys keys, IdentityCheckBudget budget, TimeProvider time,
    IOptions<WorkloadIdentityOptions> options)
{
    /// <summary>How an identity-authenticated caller is named in <see cref="AuthenticatedClient.Identity"/>: <c>jwt:&lt;iss&gt; &lt;sub&gt;</c>.</summary>
    public const string IdentityPrefix = "jwt:";

    /// <summary>Longer than the workload tokens platforms issue (1–2 KB), well below Kestrel's header limit.</summary>
    public const int MaxTokenLength = 8192;

    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly ConcurrentDictionary<string, Validated> _validated = new(StringComparer.Ordinal);
    private long _signatureChecks;

    /// <summary>Signature checks made (tokens not found among the validated ones), for tests and the benchmark.</summary>
    public long SignatureChecks => Interlocked.Read(ref _signatureChecks);

    /// <summary>A bearer value that is a JWT (three base64url parts), not an API key (which starts <c>brk_</c>).</summary>
    public static bool IsToken(ReadOnlySpan<char> bearer) =>
        !bearer.StartsWith(ApiKeys.Prefix, StringComparison.Ordinal) && bearer.Count('.') == 2;

    public async Task<IdentityOutcome> AuthenticateAsync(string token, CancellationToken ct)
    {
        if (token.Length > MaxTokenLength)
            return Invalid($"The token is longer than {MaxTokenLength} characters.", "token too long");
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
        var now = time.GetUtcNow();
        if (_validated.TryGetValue(hash, out var known) && known.ExpiresAt > now)
        {
            if (known.Generation == directory.Generation) return known.Outcome;
            // The directory changed (any client, anywhere): the signature still holds as long as its issuer is the
            // same, so only the binding is looked at again. No signature check for every service after an admin change.
            if (directory.FindIssuer(known.Issuer.Issuer!) is { } same && same.Id == known.Issuer.Id && same.UpdatedAt == known.Issuer.UpdatedAt)
            {
                var current = directory.Generation;
                var rebound = Bind(known.Payload, same, known.Subject);
                _validated[hash] = known with { Outcome = rebound, Generation = current };
                return rebound;
            }
        }

        if (!budget.TryTake()) return new IdentityOutcome.Refused(IdentityRefusal.Busy,
            "Too many new identity tokens are being checked; retry in a second.", "identity checks over budget");
        Interlocked.Increment(ref _signatureChecks);

        JsonWebToken jwt;
        try
        {
            jwt = _handler.ReadJsonWebToken(token);
        }
        catch (Exception e) when (e is ArgumentException or SecurityTokenException or JsonException or FormatException)
        {
            return Invalid("The bearer value is neither an API key nor a well-formed JWT.", "malformed token");
        }
        if (string.IsNullOrEmpty(jwt.Issuer) || directory.FindIssuer(jwt.Issuer) is not { } issuer)
            return Invalid("The token's issuer (iss) is not one this broker trusts; an admin registers issuers at /admin/issuers.", "unknown issuer");

        var signingKeys = await keys.KeysAsync(issuer, jwt.Kid, ct);
        if (signingKeys is null)
            return new IdentityOutcome.Refused(IdentityRefusal.KeysUnavailable,
                "The keys of the token's issuer cannot be fetched just now; retry later.", $"keys of issuer {issuer.Name} unavailable");

        var result = await _handler.ValidateTokenAsync(token, Parameters(issuer, signingKeys));
        if (!result.IsValid) return Invalid(WhatIsWrong(result.Exception), $"{Kind(result.Exception)} (issuer {issuer.Name})");
        if (LifetimeProblem(jwt, issuer) is { } tooLong) return Invalid(tooLong, $"lifetime over the limit (issuer {issuer.Name})");

        var subject = jwt.Subject;
        if (string.IsNullOrEmpty(subject)) return Invalid("The token has no subject (sub).", $"no subject (issuer {issuer.Name})");
        var generation = directory.Generation;
        var payload = Base64UrlEncoder.Decode(jwt.EncodedPayload);
        var outcome = Bind(payload, issuer, subject);
        Remember(hash, new Validated(outcome, jwt.ValidTo, generation, issuer, subject, payload));
        return outcome;
    }

    private IdentityOutcome Bind(string payloadJson, TrustedIssuer issuer, string subject)
    {
        using var payload = JsonDocument.Parse(payloadJson);
        var clients = directory.BoundTo(issuer.Id)
            .Where(b => b.Binding.SubjectMatches(subject) && (b.Binding.Claims ?? []).All(c => ClaimIs(payload.RootElement, c.Key, c.Value)))
            .Select(b => b.Client).DistinctBy(c => c.Id).ToList();
        return OneClient(clients, issuer, SafeText.Shorten(subject, 200), "token", $"{IdentityPrefix}{issuer.Issuer} {subject}");
    }

    /// <summary>
    /// The one client an identity is bound to, or the refusal: none or several (refused rather than guessed). Shared
    /// with <see cref="ClientCertificateIdentity"/>; <paramref name="what"/> names the credential ("token",
    /// "client certificate").
    /// </summary>
    internal static IdentityOutcome OneClient(List<AuthenticatedClient> clients, TrustedIssuer issuer, string shown, string what, string identity) =>
        clients switch
        {
            [var client] => new IdentityOutcome.Authenticated(client with { Identity = identity }),
            [] => new IdentityOutcome.Refused(IdentityRefusal.NotBound,
                $"The {what} is valid, but no client is bound to its identity (issuer {issuer.Name}, subject {shown}); an admin binds it at /admin/clients/{{name}}/identities.",
                $"identity not bound (issuer {issuer.Name}, subject {shown})"),
            _ => new IdentityOutcome.Refused(IdentityRefusal.Ambiguous,
                $"The {what}'s identity (issuer {issuer.Name}, subject {shown}) is bound to more than one client; an admin must make the bindings exclusive.",
                $"identity bound to several clients (issuer {issuer.Name}, subject {shown})"),
        };

    /// <summary>
    /// The claim at a path, where dots may separate nested objects (<c>kubernetes.io.namespace</c> is the
    /// <c>namespace</c> of the <c>kubernetes.io</c> object), compared as a string.
    /// </summary>
    public static bool ClaimIs(JsonElement claims, string path, string expected)
    {
        if (claims.ValueKind != JsonValueKind.Object) return false;
        if (claims.TryGetProperty(path, out var whole)) return whole.ValueKind == JsonValueKind.String ? whole.GetString() == expected : whole.GetRawText() == expected;
        for (var dot = path.IndexOf('.'); dot > 0; dot = path.IndexOf('.', dot + 1))
            if (claims.TryGetProperty(path[..dot], out var inner) && ClaimIs(inner, path[(dot + 1)..], expected)) return true;
        return false;
    }

    private TokenValidationParameters Parameters(TrustedIssuer issuer, IReadOnlyList<SecurityKey> signingKeys) => new()
    {
        ValidIssuer = issuer.Issuer,
        ValidAudience = issuer.Audience,
        IssuerSigningKeys = signingKeys,
        ValidAlgorithms = issuer.Algorithms,
        ValidTypes = issuer.TokenType is { } type ? [type] : null,
        RequireSignedTokens = true,
        CryptoProviderFactory = Ed25519Signatures.Factory,
        RequireExpirationTime = true,
        ValidateLifetime = true,
        ClockSkew = options.Value.ClockSkew,
        // Our clock, not the machine's: the same TimeProvider as the rest of the broker.
        LifetimeValidator = (notBefore, expires, _, _) =>
        {
            var now = time.GetUtcNow().UtcDateTime;
            return expires is { } exp && exp.ToUniversalTime() + options.Value.ClockSkew > now &&
                   (notBefore is not { } nbf || nbf.ToUniversalTime() - options.Value.ClockSkew <= now);
        },
        // A key of another issuer that happens to share the kid is never tried: only this issuer's keys are given.
        TryAllIssuerSigningKeys = true,
    };

    private string? LifetimeProblem(JsonWebToken jwt, TrustedIssuer issuer)
    {
        var from = jwt.IssuedAt > DateTime.UnixEpoch ? jwt.IssuedAt : jwt.ValidFrom > DateTime.UnixEpoch ? jwt.ValidFrom : time.GetUtcNow().UtcDateTime;
        if (from - options.Value.ClockSkew > time.GetUtcNow().UtcDateTime) return "The token was issued in the future (iat).";
        return jwt.ValidTo - from > TimeSpan.FromSeconds(issuer.MaxLifetimeSeconds)
            ? $"The token lives longer than the {issuer.MaxLifetimeSeconds} s its issuer is allowed; ask for a shorter-lived token."
            : null;
    }

    private static string Kind(Exception? e) => e switch
    {
        SecurityTokenExpiredException => "expired",
        SecurityTokenNotYetValidException => "not yet valid",
        SecurityTokenInvalidLifetimeException => "expired or not yet valid",
        SecurityTokenInvalidAudienceException => "wrong audience",
        SecurityTokenInvalidIssuerException => "wrong issuer",
        SecurityTokenInvalidAlgorithmException => "algorithm not allowed",
        SecurityTokenSignatureKeyNotFoundException => "unknown signing key",
        SecurityTokenInvalidSignatureException => "bad signature",
        SecurityTokenNoExpirationException => "no expiry",
        SecurityTokenInvalidTypeException => "wrong token type",
        _ => "invalid token",
    };

    private static string WhatIsWrong(Exception? e) => Kind(e) switch
    {
        "expired" or "expired or not yet valid" => "The token has expired or is not valid yet (exp, nbf); send a fresh one.",
        "not yet valid" => "The token is not valid yet (nbf).",
        "wrong audience" => "The token is not meant for this broker: its audience (aud) is not the one registered for its issuer.",
        "algorithm not allowed" => "The token's signature algorithm (alg) is not one allowed for its issuer (asymmetric only).",
        "unknown signing key" or "bad signature" => "The token's signature does not verify with its issuer's keys.",
        "no expiry" => "The token has no expiry (exp).",
        "wrong token type" => "The token's type (typ) is not the one its issuer declares: send the token meant for this use.",
        _ => "The token is not valid for this broker.",
    };

    private static IdentityOutcome.Refused Invalid(string detail, string reason) => new(IdentityRefusal.Invalid, detail, reason);

    private void Remember(string hash, Validated validated)
    {
        if (_validated.Count >= options.Value.MaxCachedTokens) _validated.Clear(); // bounded; the next requests check again
        _validated[hash] = validated;
    }

    /// <summary>A token whose signature, issuer, audience and times held: what it was bound to, and what to bind it again with.</summary>
    private sealed record Validated(IdentityOutcome Outcome, DateTime ValidTo, long Generation, TrustedIssuer Issuer, string Subject, string Payload)
    {
        public DateTimeOffset ExpiresAt => new(DateTime.SpecifyKind(ValidTo, DateTimeKind.Utc));
    }
}
