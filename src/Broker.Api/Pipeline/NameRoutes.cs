using Broker.Api.Admin;
using Broker.Api.Audit.Recording;

namespace Broker.Api.Pipeline;

/// <summary>
/// Route values that name a provider, account or client are checked against the name rules before the endpoint
/// runs: a name the broker could never have created is answered at once, without a database lookup, and never
/// travels further (into caches, locks, logs and the audit trail) than <see cref="FailureAudit"/>'s safe record.
/// It is an endpoint filter, so authentication and authorization still come first (no key is still a 401).
/// </summary>
public static class NameRoutes
{
    public static TBuilder RejectImpossibleNames<TBuilder>(this TBuilder builder, Func<IResult> answer) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            foreach (var (_, value) in context.HttpContext.Request.RouteValues)
            {
                if (value is string name && !FieldErrors.IsName(name)) return answer();
            }
            return await next(context);
        });
}
