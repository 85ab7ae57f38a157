using System.Text.Json;
using Broker.Domain;
using Broker.Infrastructure.Identity;

namespace Broker.UnitTests.Security;

public sealed class WorkloadIdentityMatchingTests
{
    [Theory]
    [InlineData("system:serviceaccount:payments:*", "system:serviceaccount:payments:api", true)]
    [InlineData("system:serviceaccount:payments:*", "system:serviceaccount:payments:", true)]
    [InlineData("system:serviceaccount:payments:*", "system:serviceaccount:payments-staging:api", false)]
    [InlineData("system:serviceaccount:payments:*", "system:serviceaccount:billing:api", false)]
    [InlineData("repo:acme/*:ref:refs/heads/main", "repo:acme/payments:ref:refs/heads/main", true)]
    [InlineData("repo:acme/*:ref:refs/heads/main", "repo:acme/payments:ref:refs/heads/feature", false)]
    [InlineData("spiffe://prod.example/ns/*/sa/*", "spiffe://prod.example/ns/payments/sa/api", true)]
    [InlineData("exact", "exact", true)]
    [InlineData("exact", "exactly", false)]
    [InlineData("exact", "Exact", false)] // case matters: subjects are compared as given
    [InlineData("a*b*c", "aXXbYYc", true)]
    [InlineData("a*b*c", "aXXbYY", false)]
    public void Subject_globs_match_any_run_of_characters_where_a_star_is_and_nothing_else(string pattern, string subject, bool matches) =>
        Glob.Matches(pattern, subject).ShouldBe(matches);

    [Fact]
    public void A_pathological_glob_matches_in_linear_time()
    {
        var pattern = string.Concat(Enumerable.Repeat("a*", 50)) + "b";
        Glob.Matches(pattern, new string('a', 10_000)).ShouldBeFalse(); // would never end with naive backtracking
    }

    [Theory]
    [InlineData("kubernetes.io.namespace", "payments", true)]
    [InlineData("kubernetes.io.serviceaccount.name", "api", true)]
    [InlineData("kubernetes.io.namespace", "billing", false)]
    [InlineData("repository", "acme/payments", true)]
    [InlineData("dotted.name", "flat", true)] // a claim whose own name has dots
    [InlineData("missing", "x", false)]
    [InlineData("kubernetes.io", "payments", false)] // an object is not a string
    public void Claim_conditions_descend_into_objects_at_dots(string path, string expected, bool holds)
    {
        using var claims = JsonDocument.Parse("""
            {"repository": "acme/payments", "dotted.name": "flat",
             "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "api", "uid": "1"}}}
            """);
        WorkloadIdentity.ClaimIs(claims.RootElement, path, expected).ShouldBe(holds);
    }
}
