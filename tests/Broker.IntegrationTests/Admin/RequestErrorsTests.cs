using Broker.Api.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Broker.IntegrationTests.Admin;

/// <summary>The exception handler's mapping of database races, which real requests seldom reach.</summary>
public sealed class RequestErrorsTests
{
    [Fact]
    public void Unique_violation_from_the_database_is_a_409_conflict()
    {
        // Concurrent creates rarely get past the handler's own check; this is the path they take when they do.
        var violation = new DbUpdateException("save failed",
            new PostgresException("duplicate key value", "ERROR", "ERROR", PostgresErrorCodes.UniqueViolation, constraintName: "providers_name_key"));

        var problem = RequestErrors.ToProblem(violation).ShouldBeOfType<ProblemHttpResult>();

        problem.StatusCode.ShouldBe(409);
        problem.ProblemDetails.Type.ShouldBe("https://broker.dev/errors/conflict");
    }
}
