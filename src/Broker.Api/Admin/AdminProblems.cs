namespace Broker.Api.Admin;

public static class AdminProblems
{
    /// <summary>
    /// The problems every admin endpoint can answer, for the OpenAPI document: no or a bad key (401), a key
    /// that is not an admin's (403), and the database being down (503).
    /// </summary>
    public static RouteGroupBuilder WithAdminProblems(this RouteGroupBuilder group)
    {
        group.ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }
}
