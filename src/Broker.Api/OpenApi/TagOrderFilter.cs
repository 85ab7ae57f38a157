using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace Broker.Api.OpenApi;

/// <summary>
/// Lists the tags in the order a newcomer works (a provider, then an account on it, then a client granted it,
/// then its tokens, then the trail), each with a line on what it is for; Swagger UI shows the groups in this order.
/// The paths follow the same order, so the JSON reads the same way.
/// </summary>
public sealed class TagOrderFilter : IDocumentFilter
{
    public static readonly (string Name, string Description)[] Tags =
    [
        ("Providers", "Step 1. An upstream token endpoint and the dialect it speaks (sliderule, simplejwt, keycloak, oauth2-password, " +
                      "oauth2-client-credentials). Accounts log in through one."),
        ("Accounts", "Step 2. The credentials the broker logs in with at a provider. Consumers fetch tokens by account name; state " +
                     "and last_error say whether the upstream accepts them."),
        ("Clients", "Step 3. Who may ask: a service (consumer) or a person (admin) holding an API key, and the accounts or providers " +
                    "it is granted. The key is shown once, when created or rotated."),
        ("Issuers", "Workload identity: the issuers (a Kubernetes cluster, GitHub Actions, SPIRE, an OIDC server) whose signed JWTs the " +
                    "broker accepts instead of an API key, for the identities bound to clients (POST /admin/clients/{name}/identities)."),
        ("Tokens", "What services call with their consumer key: a currently valid access token for an account they are granted."),
        (SwaggerSetup.AuditTag, "Who was served which token when, what the broker did upstream, every failure and admin change; and " +
                                "the usage report (which service used which account how often) as JSON, CSV or an SVG chart."),
        ("Webhooks", "Where the broker tells admins that an account needs a person (rejected credentials, inactive upstream, a " +
                     "refresh token about to lapse) or is fine again: signed POSTs, retried, with a delivery log."),
    ];

    public void Apply(OpenApiDocument document, DocumentFilterContext context)
    {
        document.Tags = new HashSet<OpenApiTag>();
        foreach (var (name, description) in Tags) document.Tags.Add(new OpenApiTag { Name = name, Description = description });

        if (document.Paths is null) return;
        var order = Tags.Select(t => t.Name).ToList();
        int Rank(IOpenApiPathItem path)
        {
            var tag = path.Operations?.Values.SelectMany(o => o.Tags ?? new HashSet<OpenApiTagReference>()).Select(t => t.Name).FirstOrDefault();
            var index = tag is null ? -1 : order.IndexOf(tag);
            return index < 0 ? order.Count : index;
        }
        var paths = document.Paths.Select((p, i) => (p, i)).OrderBy(x => Rank(x.p.Value)).ThenBy(x => x.i).Select(x => x.p).ToList();
        document.Paths.Clear();
        foreach (var (key, value) in paths) document.Paths.Add(key, value);
    }
}
