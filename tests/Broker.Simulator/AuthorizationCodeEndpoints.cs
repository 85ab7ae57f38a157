using System.Buffers.Text;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Broker.Simulator;

/// <summary>
/// RFC 6749 §4.1 with PKCE S256 (RFC 7636): <c>GET /oauth2/authorize</c> shows a consent page (a person signs in with
/// a simulator user's password and approves, or denies), which redirects to the client's registered redirect URI with
/// a code or <c>error=access_denied</c>. The code is exchanged at the OAuth2 token endpoint (<c>/o/token/</c>, grant
/// <c>authorization_code</c>); its refresh tokens are the oauth2-password ones, refreshed there too.
/// </summary>
internal static class AuthorizationCodeEndpoints
{
    public const string AuthorizePath = "/oauth2/authorize";

    public static IEndpointRouteBuilder MapAuthorizationCode(this IEndpointRouteBuilder routes)
    {
        routes.MapGet(AuthorizePath, Authorize);
        routes.MapPost(AuthorizePath, Decide);
        return routes;
    }

    private static IResult Authorize(HttpRequest request, SimulatorState state)
    {
        var q = request.Query;
        string? Get(string name) => q.TryGetValue(name, out var v) && v.Count == 1 ? v[0] : null;
        var clientId = Get("client_id");
        var redirectUri = Get("redirect_uri");
        // §4.1.2.1: a bad client or redirect URI is shown to the person, never redirected to.
        if (clientId is null || redirectUri is null || !state.AuthorizationCodes.IsRegistered(clientId, redirectUri))
            return Page(StatusCodes.Status400BadRequest, "<h1>Invalid request</h1><p>Unknown client or redirect_uri.</p>");
        var stateParameter = Get("state");
        if (Get("response_type") != "code" || Get("code_challenge_method") != "S256" || Get("code_challenge") is not { Length: 43 } challenge ||
            string.IsNullOrEmpty(stateParameter))
            return Results.Redirect(WithQuery(redirectUri, ("error", "invalid_request"), ("state", stateParameter)));

        var id = state.AuthorizationCodes.Begin(new PendingAuthorization(clientId, redirectUri, stateParameter, challenge, Get("scope") ?? "read"));
        return ConsentPage(id, clientId, error: null);
    }

    private static async Task<IResult> Decide(HttpRequest request, SimulatorState state)
    {
        var form = await request.ReadFormAsync();
        if (state.AuthorizationCodes.Pending(form["request"].ToString()) is not { } pending)
            return Page(StatusCodes.Status400BadRequest, "<h1>Invalid request</h1><p>Unknown or finished authorization request.</p>");
        var id = form["request"].ToString();
        if (form["decision"] != "approve")
        {
            state.AuthorizationCodes.Finish(id);
            return Results.Redirect(WithQuery(pending.RedirectUri, ("error", "access_denied"),
                ("error_description", "The user denied the request"), ("state", pending.State)));
        }
        var username = form["username"].ToString();
        if (state.Authenticate(username, form["password"].ToString()).Status != LoginStatus.Ok)
            return ConsentPage(id, pending.ClientId, error: "Invalid username or password.");
        state.AuthorizationCodes.Finish(id);
        var code = state.AuthorizationCodes.Issue(pending, username, state.Time.GetUtcNow());
        return Results.Redirect(WithQuery(pending.RedirectUri, ("code", code), ("state", pending.State)));
    }

    /// <summary>§4.1.3 at the token endpoint: the code once, for its client and redirect URI, with the PKCE verifier.</summary>
    internal static IResult CodeGrant(SimulatorState state, IFormCollection form, string? clientId, string? clientSecret)
    {
        if (state.AuthenticateClient(clientId, clientSecret) == ClientCheck.Rejected)
            return Results.Json(new OAuthError("invalid_client", null), statusCode: StatusCodes.Status401Unauthorized);
        string? Get(string name) => form.TryGetValue(name, out var v) && v.Count == 1 ? v[0] : null;
        var verifier = Get("code_verifier");
        if (verifier is not null) state.AuthorizationCodes.SawVerifier(verifier);
        var issued = state.AuthorizationCodes.Redeem(Get("code"));
        if (issued is null || issued.ExpiresAt <= state.Time.GetUtcNow() || issued.Request.ClientId != clientId ||
            issued.Request.RedirectUri != Get("redirect_uri") || verifier is not { Length: >= 43 and <= 128 } ||
            Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))) != issued.Request.Challenge)
            return Results.Json(new OAuthError("invalid_grant", "The code is invalid, used, expired, or does not match."), statusCode: StatusCodes.Status400BadRequest);
        return Results.Ok(OAuth2Endpoints.Issue(state, Dialect.OAuth2Password, issued.Username, clientId!, issued.Request.Scope, withRefresh: true));
    }

    private static IResult ConsentPage(string id, string clientId, string? error) => Page(StatusCodes.Status200OK, $"""
        <h1>Authorize {WebUtility.HtmlEncode(clientId)}</h1>
        {(error is null ? "" : $"<p id=\"error\">{WebUtility.HtmlEncode(error)}</p>")}
        <form method="post" action="{AuthorizePath}">
          <input type="hidden" name="request" value="{WebUtility.HtmlEncode(id)}">
          <label>Username <input name="username" id="username"></label>
          <label>Password <input name="password" id="password" type="password"></label>
          <button type="submit" name="decision" value="approve" id="approve">Approve</button>
          <button type="submit" name="decision" value="deny" id="deny">Deny</button>
        </form>
        """);

    private static IResult Page(int status, string body) =>
        Results.Content($"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Simulator</title></head><body>{body}</body></html>",
            "text/html; charset=utf-8", statusCode: status);

    private static string WithQuery(string uri, params (string Name, string? Value)[] parameters) =>
        uri + (uri.Contains('?') ? "&" : "?") + string.Join('&', parameters.Where(p => p.Value is not null)
            .Select(p => $"{Uri.EscapeDataString(p.Name)}={Uri.EscapeDataString(p.Value!)}"));
}

internal sealed record PendingAuthorization(string ClientId, string RedirectUri, string State, string Challenge, string Scope);

internal sealed record IssuedCode(PendingAuthorization Request, string Username, DateTimeOffset ExpiresAt);

/// <summary>The authorization-code side of the simulator: registered redirect URIs, pending consents, codes, counters.</summary>
public sealed class AuthorizationCodes
{
    /// <summary>RFC 6749 §4.1.2 recommends at most 10 minutes.</summary>
    public static readonly TimeSpan CodeLifetime = TimeSpan.FromMinutes(1);

    private readonly Lock _gate = new();
    private readonly HashSet<(string ClientId, string RedirectUri)> _redirects = [];
    private readonly Dictionary<string, PendingAuthorization> _pending = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IssuedCode> _codes = new(StringComparer.Ordinal);
    private readonly List<string> _codeValues = [];
    private readonly List<string> _verifiers = [];
    private int _issued, _exchanged, _refused;

    /// <summary>Every code issued, for the scans that must not find one in the broker's logs, audit or pages.</summary>
    public IReadOnlyList<string> IssuedCodes { get { lock (_gate) return [.. _codeValues]; } }

    /// <summary>Every PKCE verifier presented at the token endpoint, the one place the broker may send it.</summary>
    public IReadOnlyList<string> Verifiers { get { lock (_gate) return [.. _verifiers]; } }

    internal void SawVerifier(string verifier)
    {
        lock (_gate) _verifiers.Add(verifier);
    }

    /// <summary>Registers a redirect URI of a client (add the client itself with <see cref="SimulatorState.AddClient"/>).</summary>
    public void RegisterRedirect(string clientId, string redirectUri)
    {
        lock (_gate) _redirects.Add((clientId, redirectUri));
    }

    public int CodesIssued { get { lock (_gate) return _issued; } }
    public int CodesExchanged { get { lock (_gate) return _exchanged; } }
    /// <summary>Exchanges refused: an unknown, used or expired code, or a wrong client, redirect URI or verifier.</summary>
    public int CodesRefused { get { lock (_gate) return _refused; } }

    internal bool IsRegistered(string clientId, string redirectUri)
    {
        lock (_gate) return _redirects.Contains((clientId, redirectUri));
    }

    internal string Begin(PendingAuthorization request)
    {
        var id = TokenFactory.Opaque();
        lock (_gate) _pending[id] = request;
        return id;
    }

    internal PendingAuthorization? Pending(string id)
    {
        lock (_gate) return _pending.GetValueOrDefault(id);
    }

    internal void Finish(string id)
    {
        lock (_gate) _pending.Remove(id);
    }

    internal string Issue(PendingAuthorization request, string username, DateTimeOffset now)
    {
        var code = TokenFactory.Opaque();
        lock (_gate)
        {
            _codes[code] = new IssuedCode(request, username, now + CodeLifetime);
            _codeValues.Add(code);
            _issued++;
        }
        return code;
    }

    internal string? OwnerOf(string? code)
    {
        if (code is null) return null;
        lock (_gate) return _codes.GetValueOrDefault(code)?.Username;
    }

    /// <summary>Single use: a code is gone once presented, whether or not the rest of the exchange checks out.</summary>
    internal IssuedCode? Redeem(string? code)
    {
        lock (_gate)
        {
            if (code is not null && _codes.Remove(code, out var issued))
            {
                _exchanged++;
                return issued;
            }
            _refused++;
            return null;
        }
    }
}
