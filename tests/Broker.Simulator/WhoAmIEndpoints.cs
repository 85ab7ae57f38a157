namespace Broker.Simulator;

/// <summary>
/// A protected resource: proves that an access token the broker handed out is one we issued and still valid
/// by the simulator's clock.
/// </summary>
internal static class WhoAmIEndpoints
{
    public static IEndpointRouteBuilder MapWhoAmI(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/whoami", WhoAmI);
        return routes;
    }

    private static IResult WhoAmI(HttpContext http, SimulatorState state)
    {
        var header = http.Request.Headers.Authorization.ToString();
        var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
        return state.FindAccess(token) is { } grant
            ? Results.Ok(new Identity(grant.Username, grant.Dialect.ToName()))
            : Results.Json(new DetailError("Given token not valid for any token type"), statusCode: StatusCodes.Status401Unauthorized);
    }

    private sealed record Identity(string Username, string Dialect);
}
