using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Serialization;

namespace Broker.Simulator;

/// <summary>
/// django-oauth-toolkit's <c>/o/token/</c> (seed 004, RFC 6749): password, refresh_token and client_credentials
/// grants, form-encoded, opaque 30-character tokens.
/// </summary>
internal static class OAuth2Endpoints
{
    private const string DefaultScope = "read write";

    public static IEndpointRouteBuilder MapOAuth2(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/o/token/", Token);
        return routes;
    }

    private static async Task<IResult> Token(HttpContext http, SimulatorState state)
    {
        if (!IsUrlEncodedForm(http.Request))
            return await UpstreamAnswer.AnswerAsync(http, state, null, () => Error(StatusCodes.Status400BadRequest, "invalid_request"));

        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var grantType = Value(form, "grant_type");
        var client = ReadClient(http.Request, form);
        var identity = grantType switch
        {
            "password" => Value(form, "username"),
            "client_credentials" => client.Id,
            "refresh_token" => state.OwnerOf(Value(form, "refresh_token")),
            "authorization_code" => state.AuthorizationCodes.OwnerOf(Value(form, "code")),
            _ => null,
        };

        return await UpstreamAnswer.AnswerAsync(http, state, identity, () => grantType switch
        {
            "password" => PasswordGrant(state, form, client),
            "refresh_token" => RefreshGrant(state, form, client),
            "client_credentials" => ClientCredentialsGrant(state, form, client),
            "authorization_code" => AuthorizationCodeEndpoints.CodeGrant(state, form, client.Id, client.Secret),
            _ => Error(StatusCodes.Status400BadRequest, "unsupported_grant_type"),
        });
    }

    private static IResult PasswordGrant(SimulatorState state, IFormCollection form, Client client)
    {
        var username = Value(form, "username");
        var password = Value(form, "password");
        if (state.AuthenticateClient(client.Id, client.Secret) == ClientCheck.Rejected)
        {
            state.CountLogin(username, false);
            return InvalidClient();
        }
        if (username is null || password is null)
        {
            state.CountLogin(username, false);
            return Error(StatusCodes.Status400BadRequest, "invalid_request",
                $"Request is missing {(username is null ? "username" : "password")} parameter.");
        }

        // Django's authenticate() refuses inactive users like wrong passwords.
        var check = state.Authenticate(username, password);
        if (check.Status != LoginStatus.Ok)
        {
            state.CountLogin(username, false);
            return Error(StatusCodes.Status400BadRequest, "invalid_grant", "Invalid credentials given.");
        }

        state.CountLogin(username, true);
        return Results.Ok(Issue(state, Dialect.OAuth2Password, username, client.Id!, Value(form, "scope") ?? DefaultScope, withRefresh: true));
    }

    private static IResult RefreshGrant(SimulatorState state, IFormCollection form, Client client)
    {
        var token = Value(form, "refresh_token");
        if (state.AuthenticateClient(client.Id, client.Secret) == ClientCheck.Rejected)
        {
            state.CountRejectedRefresh(state.OwnerOf(token));
            return InvalidClient();
        }
        if (token is null)
        {
            state.CountRejectedRefresh(null);
            return Error(StatusCodes.Status400BadRequest, "invalid_request", "Missing refresh token parameter.");
        }

        // The refresh keeps the scope granted at login, and only the client it was issued to may use it.
        var rotate = state.OAuth2RotateRefreshTokens;
        var check = state.Redeem(token, Dialect.OAuth2Password, client.Id, spend: rotate);
        if (check.Status != RefreshStatus.Ok) return Error(StatusCodes.Status400BadRequest, "invalid_grant");
        if (check.WithinGrace && state.FirstAnswerTo(token) is { } first)
            return Results.Ok(first with { ExpiresIn = (int)state.AccessLifetime.TotalSeconds }); // old tokens, a new-looking lifetime
        var tokens = Issue(state, Dialect.OAuth2Password, check.User!.Username, client.Id!, check.Grant!.Scope!, withRefresh: rotate);
        if (rotate) state.RememberFirstAnswer(token, tokens);
        return Results.Ok(rotate ? tokens : tokens with { RefreshToken = token }); // without rotation the same token comes back
    }

    private static IResult ClientCredentialsGrant(SimulatorState state, IFormCollection form, Client client)
    {
        // Only a confidential client can prove who it is; faults aimed at the client id act as a refused secret.
        var fault = state.FaultFor(client.Id);
        if (state.AuthenticateClient(client.Id, client.Secret) != ClientCheck.Confidential ||
            fault is Fault.RejectCredentials or Fault.Inactive)
        {
            state.CountLogin(client.Id, false);
            return InvalidClient();
        }

        state.CountLogin(client.Id, true);
        return Results.Ok(Issue(state, Dialect.OAuth2ClientCredentials, client.Id!, client.Id!, Value(form, "scope") ?? DefaultScope, withRefresh: false));
    }

    internal static Tokens Issue(SimulatorState state, Dialect dialect, string username, string clientId, string scope, bool withRefresh)
    {
        var now = state.Time.GetUtcNow();
        var accessLifetime = state.AccessLifetime;
        var access = TokenFactory.Opaque();
        state.RememberAccess(access, new AccessGrant(dialect, username, now + accessLifetime));

        string? refresh = null;
        if (withRefresh)
        {
            refresh = TokenFactory.Opaque();
            state.RememberRefresh(refresh, new RefreshGrant(dialect, username, now + state.RefreshLifetime) { ClientId = clientId, Scope = scope });
        }
        return new Tokens(access, (int)accessLifetime.TotalSeconds, refresh, scope, "Bearer");
    }

    /// <summary>
    /// Client authentication, RFC 6749 §2.3.1: HTTP Basic with form-encoded id and secret, else the body's
    /// <c>client_id</c>/<c>client_secret</c>. A malformed Basic header leaves both null, which fails.
    /// </summary>
    private static Client ReadClient(HttpRequest request, IFormCollection form)
    {
        if (AuthenticationHeaderValue.TryParse(request.Headers.Authorization, out var header) &&
            header.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var pair = Encoding.UTF8.GetString(Convert.FromBase64String(header.Parameter ?? ""));
                var colon = pair.IndexOf(':');
                return colon < 0 ? default : new Client(WebUtility.UrlDecode(pair[..colon]), WebUtility.UrlDecode(pair[(colon + 1)..]));
            }
            catch (FormatException)
            {
                return default;
            }
        }
        return new Client(Value(form, "client_id"), Value(form, "client_secret"));
    }

    private static bool IsUrlEncodedForm(HttpRequest request) =>
        MediaTypeHeaderValue.TryParse(request.ContentType, out var type) &&
        string.Equals(type.MediaType, "application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase);

    private static string? Value(IFormCollection form, string name) =>
        form.TryGetValue(name, out var values) && values.Count > 0 ? values[0] : null;

    private static IResult InvalidClient() => Error(StatusCodes.Status401Unauthorized, "invalid_client");

    private static IResult Error(int status, string error, string? description = null) =>
        Results.Json(new OAuthError(error, description), statusCode: status);

    private readonly record struct Client(string? Id, string? Secret);

    internal sealed record Tokens(
        string AccessToken,
        int ExpiresIn,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? RefreshToken,
        string Scope,
        string TokenType);
}
