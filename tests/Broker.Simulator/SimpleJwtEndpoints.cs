using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Broker.Simulator;

/// <summary>
/// djangorestframework-simplejwt as Progeny runs it (seed 002): expiry only inside the JWTs; refresh rotation
/// follows <see cref="SimulatorState.SimpleJwtRotateRefreshTokens"/>.
/// </summary>
internal static class SimpleJwtEndpoints
{
    public static IEndpointRouteBuilder MapSimpleJwt(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/api/v3/accounts/token/obtain/", Obtain);
        routes.MapPost("/api/v3/accounts/token/refresh/", Refresh);
        return routes;
    }

    private static async Task<IResult> Obtain(HttpContext http, SimulatorState state, TokenFactory tokens)
    {
        var body = await JsonBody.ReadAsync(http.Request);
        var username = body.Field("username");
        return await UpstreamAnswer.AnswerAsync(http, state, username, () =>
        {
            if (Django.BadBody(body, "username", "password") is { } bad) return Failed(bad);

            // Django's authenticate() refuses inactive users like wrong passwords.
            var check = state.Authenticate(username!, body!["password"]!);
            if (check.Status != LoginStatus.Ok)
                return Failed(Django.Json(new DetailError(Django.NoActiveAccount), StatusCodes.Status401Unauthorized));

            state.CountLogin(username, true);
            var now = state.Time.GetUtcNow();
            return Results.Ok(new ObtainAnswer(Refresh: IssueRefresh(state, tokens, check.User!, now), Access: IssueAccess(state, tokens, check.User!, now)));
        });

        IResult Failed(IResult answer)
        {
            state.CountLogin(username, false);
            return answer;
        }
    }

    private static async Task<IResult> Refresh(HttpContext http, SimulatorState state, TokenFactory tokens)
    {
        var body = await JsonBody.ReadAsync(http.Request);
        var token = body.Field("refresh");
        return await UpstreamAnswer.AnswerAsync(http, state, state.OwnerOf(token), () =>
        {
            if (Django.BadBody(body, "refresh") is { } bad)
            {
                state.CountRejectedRefresh(null);
                return bad;
            }

            var rotate = state.SimpleJwtRotateRefreshTokens;
            var check = state.Redeem(token, Dialect.SimpleJwt, spend: rotate);
            switch (check.Status)
            {
                case RefreshStatus.Ok:
                    var now = state.Time.GetUtcNow();
                    var access = IssueAccess(state, tokens, check.User!, now);
                    return Results.Ok(new RefreshAnswer(access, rotate ? IssueRefresh(state, tokens, check.User!, now) : null));
                case RefreshStatus.Inactive:
                    // simplejwt >= 5.3 checks the user on refresh (CHECK_USER_IS_ACTIVE).
                    return Django.Json(new CodedDetailError("No active account found for the given token.", "no_active_account"),
                        StatusCodes.Status401Unauthorized);
                default:
                    return Django.Json(new CodedDetailError("Token is invalid or expired", "token_not_valid"), StatusCodes.Status401Unauthorized);
            }
        });
    }

    private static string IssueAccess(SimulatorState state, TokenFactory tokens, UserInfo user, DateTimeOffset now)
    {
        var expires = now + state.AccessLifetime;
        var access = tokens.Jwt(TokenFactory.TypFirstHeader, Claims("access", expires, now, user));
        state.RememberAccess(access, new AccessGrant(Dialect.SimpleJwt, user.Username, expires));
        return access;
    }

    private static string IssueRefresh(SimulatorState state, TokenFactory tokens, UserInfo user, DateTimeOffset now)
    {
        var expires = now + state.RefreshLifetime;
        var refresh = tokens.Jwt(TokenFactory.TypFirstHeader, Claims("refresh", expires, now, user));
        state.RememberRefresh(refresh, new RefreshGrant(Dialect.SimpleJwt, user.Username, expires));
        return refresh;
    }

    private static JsonObject Claims(string type, DateTimeOffset expires, DateTimeOffset now, UserInfo user) => new()
    {
        ["token_type"] = type,
        ["exp"] = expires.ToUnixTimeSeconds(),
        ["iat"] = now.ToUnixTimeSeconds(),
        ["jti"] = TokenFactory.Jti(),
        ["user_id"] = user.UserId,
    };

    private sealed record ObtainAnswer(string Refresh, string Access);

    // Without rotation simplejwt answers only "access"; the field is then left out, not sent as null.
    private sealed record RefreshAnswer(
        string Access,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Refresh);
}
