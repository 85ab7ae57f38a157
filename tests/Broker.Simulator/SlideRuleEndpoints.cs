using System.Globalization;
using System.Text.Json.Nodes;

namespace Broker.Simulator;

/// <summary>SlideRule's organization tokens: single-use refresh, 200 <c>{"active":false}</c> for inactive members.</summary>
internal static class SlideRuleEndpoints
{
    private const string TokenNotValid = "Given token not valid for any token type";

    public static IEndpointRouteBuilder MapSlideRule(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/api/org_token/", Login);
        routes.MapPost("/api/org_token/refresh/", Refresh);
        return routes;
    }

    private static async Task<IResult> Login(HttpContext http, SimulatorState state, TokenFactory tokens)
    {
        var body = await JsonBody.ReadAsync(http.Request);
        var username = body.Field("username");
        return await UpstreamAnswer.AnswerAsync(http, state, username, () =>
        {
            var (answer, succeeded) = LoginAnswer(body, state, tokens);
            state.CountLogin(username, succeeded);
            return answer;
        });
    }

    private static (IResult Answer, bool Succeeded) LoginAnswer(Dictionary<string, string?>? body, SimulatorState state, TokenFactory tokens)
    {
        if (Django.BadBody(body, "username", "password", "org_name") is { } bad) return (bad, false);

        var org = body!["org_name"]!;
        var check = state.Authenticate(body["username"]!, body["password"]!);
        if (check.Status == LoginStatus.Rejected)
            return (Django.Json(new DetailError(Django.NoActiveAccount), StatusCodes.Status401Unauthorized), false);

        // A user created without an organization may use any; one with an organization must name it.
        var user = check.User!;
        if (user.OrgName is not null && user.OrgName != org)
            return (Django.Json(new DetailError($"{org} is NOT a valid organization name"), StatusCodes.Status403Forbidden), false);
        if (check.Status == LoginStatus.Inactive) return (Results.Ok(new Inactive(false)), false);

        return (Results.Ok(Issue(state, tokens, user, org)), true);
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

            var check = state.Redeem(token, Dialect.SlideRule);
            return check.Status switch
            {
                RefreshStatus.Ok => Results.Ok(Issue(state, tokens, check.User!, check.Grant!.OrgName!)),
                RefreshStatus.Reused => Django.Json(new CodedDetailError("Token is blacklisted", "token_not_valid"), StatusCodes.Status403Forbidden),
                RefreshStatus.Inactive => Results.Ok(new Inactive(false)),
                RefreshStatus.NotMember => Django.Json(
                    new DetailError($"{check.User!.Username} is NOT a member of {check.Grant!.OrgName}"), StatusCodes.Status403Forbidden),
                _ => Django.Json(new DetailError(TokenNotValid), StatusCodes.Status403Forbidden),
            };
        });
    }

    private static Tokens Issue(SimulatorState state, TokenFactory tokens, UserInfo user, string org)
    {
        var now = state.Time.GetUtcNow();
        var accessLifetime = state.AccessLifetime;
        var refreshLifetime = state.RefreshLifetime;
        var accessExpires = now + accessLifetime;
        var refreshExpires = now + refreshLifetime;

        var access = tokens.Jwt(TokenFactory.AlgFirstHeader, Claims("access", accessExpires, now, org, user));
        var refresh = tokens.Jwt(TokenFactory.AlgFirstHeader, Claims("refresh", refreshExpires, now, org, user));
        state.RememberAccess(access, new AccessGrant(Dialect.SlideRule, user.Username, accessExpires));
        state.RememberRefresh(refresh, new RefreshGrant(Dialect.SlideRule, user.Username, refreshExpires) { OrgName = org });

        return new Tokens(
            Exp: accessExpires.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'UTC'", CultureInfo.InvariantCulture),
            AccessLifetime: PythonFloat(accessLifetime.TotalSeconds),
            RefreshLifetime: PythonFloat(refreshLifetime.TotalSeconds),
            Refresh: refresh,
            Access: access);
    }

    // Claim order as in the seed's tokens.
    private static JsonObject Claims(string type, DateTimeOffset expires, DateTimeOffset now, string org, UserInfo user) => new()
    {
        ["token_type"] = type,
        ["exp"] = expires.ToUnixTimeSeconds(),
        ["iat"] = now.ToUnixTimeSeconds(),
        ["jti"] = TokenFactory.Jti(),
        ["org_name"] = org,
        ["user_name"] = user.Username,
        ["user_id"] = user.UserId,
    };

    /// <summary>Python's <c>str(float)</c>: <c>86400.0</c>, <c>0.5</c>. SlideRule sends lifetimes that way, as strings.</summary>
    private static string PythonFloat(double seconds) =>
        seconds == Math.Floor(seconds)
            ? seconds.ToString("0", CultureInfo.InvariantCulture) + ".0"
            : seconds.ToString("R", CultureInfo.InvariantCulture);

    private sealed record Tokens(string Exp, string AccessLifetime, string RefreshLifetime, string Refresh, string Access);

    private sealed record Inactive(bool Active);
}
