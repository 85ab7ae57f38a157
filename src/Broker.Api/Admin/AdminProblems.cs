using Broker.Api.Errors;
using Broker.Api.Pipeline;

namespace Broker.Api.Admin;

public static class AdminProblems
{
    /// <summary>
    /// The problems every admin endpoint can answer, for the OpenAPI document: no or a bad key (401), a key
    /// that is not an admin's (403), and the database being down (503). A name in the route that breaks the name
    /// rules is a 404 at once (<see cref="NameRoutes"/>).
    /// </summary>
    public static RouteGroupBuilder WithNameRuleAndAdminProblems(this RouteGroupBuilder group)
    {
        group.RejectImpossibleNames(() => Problems.Create(StatusCodes.Status404NotFound, Problems.NotFound, "Nothing has that name."));
        group.ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }
}
