using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Broker.Simulator;

/// <summary>
/// Vivacity's Keycloak front (seed 003): JSON in, Keycloak's token response out. <c>/refresh-token</c> is
/// undocumented upstream; we take <c>{"refresh_token": ...}</c> and answer 403 <c>forbidden</c> to a bad one.
/// </summary>
internal static class KeycloakEndpoints
{
    private const string Scope = "profile";

    public static IEndpointRouteBuilder MapKeycloak(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/get-token", GetToken);
        routes.MapPost("/refresh-token", RefreshToken);
        return routes;
    }

    private static async Task<IResult> GetToken(HttpContext http, SimulatorState state, TokenFactory tokens)
    {
        var body = await JsonBody.ReadAsync(http.Request);
        var username = body.Field("username");
        return await UpstreamAnswer.AnswerAsync(http, state, username, () =>
        {
            if (body is null)
            {
                state.CountLogin(null, false);
                return Results.Json(new OAuthError("invalid_request"), statusCode: StatusCodes.Status400BadRequest);
            }

            // Keycloak answers a missing field like a wrong one, and refuses disabled users.
            var password = body.Field("password");
            var check = username is null || password is null
                ? new LoginCheck(LoginStatus.Rejected, null)
                : state.Authenticate(username, password);
            if (check.Status != LoginStatus.Ok)
            {
                state.CountLogin(username, false);
                return Results.Json(new OAuthError("invalid_grant", "Invalid user credentials"), statusCode: StatusCodes.Status401Unauthorized);
            }

            state.CountLogin(username, true);
            return Results.Ok(Issue(state, tokens, check.User!.Username, Guid.NewGuid().ToString()));
        });
    }

    private static async Task<IResult> RefreshToken(HttpContext http, SimulatorState state, TokenFactory tokens)
    {
        var body = await JsonBody.ReadAsync(http.Request);
        var token = body.Field("refresh_token");
        return await UpstreamAnswer.AnswerAsync(http, state, state.OwnerOf(token), () =>
        {
            if (token is null)
            {
                state.CountRejectedRefresh(null);
                return Results.Json(new OAuthError("invalid_request", "Missing parameter: refresh_token"), statusCode: StatusCodes.Status400BadRequest);
            }

            var check = state.Redeem(token, Dialect.Keycloak);
            return check.Status == RefreshStatus.Ok
                ? Results.Ok(Issue(state, tokens, check.User!.Username, check.Grant!.SessionState!))
                : Results.Json(new OAuthError("forbidden"), statusCode: StatusCodes.Status403Forbidden);
        });
    }

    // The session survives refreshes, as in Keycloak: it ends when its refresh chain does.
    private static Tokens Issue(SimulatorState state, TokenFactory tokens, string username, string session)
    {
        var now = state.Time.GetUtcNow();
        var accessLifetime = state.AccessLifetime;
        var refreshLifetime = state.RefreshLifetime;
        var access = tokens.Jwt(TokenFactory.AlgFirstHeader, Claims("Bearer", now + accessLifetime, now, session, username));
        var refresh = tokens.Jwt(TokenFactory.AlgFirstHeader, Claims("Refresh", now + refreshLifetime, now, session, null));
        state.RememberAccess(access, new AccessGrant(Dialect.Keycloak, username, now + accessLifetime));
        state.RememberRefresh(refresh, new RefreshGrant(Dialect.Keycloak, username, now + refreshLifetime) { SessionState = session });
        return new Tokens(access, (int)accessLifetime.TotalSeconds, (int)refreshLifetime.TotalSeconds, refresh, "bearer", 0, session, Scope);
    }

    // As in the seed: the access token names the user, the refresh token only the session.
    private static JsonObject Claims(string type, DateTimeOffset expires, DateTimeOffset now, string session, string? username)
    {
        var claims = new JsonObject
        {
            ["jti"] = Guid.NewGuid().ToString(),
            ["exp"] = expires.ToUnixTimeSeconds(),
            ["iat"] = now.ToUnixTimeSeconds(),
            ["typ"] = type,
            ["session_state"] = session,
            ["scope"] = Scope,
        };
        if (username is not null) claims["preferred_username"] = username;
        return claims;
    }

    private sealed record Tokens(
        string AccessToken,
        int ExpiresIn,
        int RefreshExpiresIn,
        string RefreshToken,
        string TokenType,
        [property: JsonPropertyName("not-before-policy")] int NotBeforePolicy,
        string SessionState,
        string Scope);
}
