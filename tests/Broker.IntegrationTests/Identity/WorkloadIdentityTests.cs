using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Broker.Domain;
using Broker.Infrastructure.Identity;
using Broker.IntegrationTests.Audit;
using Broker.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Tokens;

namespace Broker.IntegrationTests.Identity;

/// <summary>
/// docs/consumers.md, "Workload identity": a service that holds no API key authenticates with a JWT its platform gave
/// it. Kubernetes-shaped tokens from a local issuer whose JWKS rotates; the attacks of RFC 8725, each refused with its
/// problem type; the cached token that costs no signature check; a flood that stays within its budget.
/// </summary>
public sealed class WorkloadIdentityTests : IAsyncLifetime
{
    private const string ClusterIssuer = "https://kubernetes.default.svc.cluster.local";
    private BrokerWorld _world = null!;
    private TokenSigner _cluster = null!;
    private JwksServer _jwks = null!;
    private string _account = null!;

    public async Task InitializeAsync()
    {
        _world = await BrokerWorld.StartAsync();
        _cluster = new TokenSigner(ClusterIssuer, "k1");
        _jwks = await JwksServer.StartAsync(_cluster);
        _account = (await _world.AccountAsync(DialectNames.SimpleJwt)).Name;
        await _world.AdminAsync(HttpMethod.Post, "/admin/issuers",
            new { name = "prod-cluster", issuer = ClusterIssuer, audience = "broker", jwks_uri = _jwks.JwksUrl }, HttpStatusCode.Created);
        await ClientWithIdentityAsync("payments", "prod-cluster", "system:serviceaccount:payments:*",
            new Dictionary<string, string> { ["kubernetes.io.namespace"] = "payments" });
    }

    public async Task DisposeAsync()
    {
        await _jwks.DisposeAsync();
        await _world.DisposeAsync();
    }

    private DateTimeOffset Now => _world.Clock.GetUtcNow();
    private WorkloadIdentity Identities => _world.Broker.Services.GetRequiredService<WorkloadIdentity>();

    [Fact]
    public async Task A_kubernetes_service_account_token_fetches_the_accounts_token_and_a_second_fetch_checks_no_signature()
    {
        var token = _cluster.Kubernetes(Now, "payments", "api");
        var checks = Identities.SignatureChecks;

        var (status, body, _) = await _world.Broker.FetchAsync(_account, token);
        status.ShouldBe(HttpStatusCode.OK, body.ToJsonString());
        _world.Simulator.IsValidAccessToken(body["access_token"]!.GetValue<string>()).ShouldBeTrue();
        Identities.SignatureChecks.ShouldBe(checks + 1);

        for (var i = 0; i < 5; i++) (await _world.Broker.FetchAsync(_account, token)).Status.ShouldBe(HttpStatusCode.OK);
        Identities.SignatureChecks.ShouldBe(checks + 1, "a validated token is remembered until its exp");
        _world.Logs.Lines.ShouldNotContain(l => l.Contains(token, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Across_a_key_rotation_tokens_of_the_old_and_the_new_kid_both_work_and_unknown_kids_fetch_the_jwks_at_most_once_per_interval()
    {
        (await _world.Broker.FetchAsync(_account, _cluster.Kubernetes(Now, "payments", "api"))).Status.ShouldBe(HttpStatusCode.OK);
        var fetches = _jwks.Requests;
        fetches.ShouldBe(1);

        // The cluster adds a key and signs with it; the old one stays published for tokens already out.
        var old = _cluster.Current;
        _cluster.AddKey("k2");
        _world.Clock.Advance(TimeSpan.FromSeconds(31)); // past the refetch interval since the first fetch
        (await _world.Broker.FetchAsync(_account, _cluster.Kubernetes(Now, "payments", "api"))).Status.ShouldBe(HttpStatusCode.OK);
        (await _world.Broker.FetchAsync(_account, _cluster.Kubernetes(Now, "payments", "worker", key: old))).Status.ShouldBe(HttpStatusCode.OK);
        _jwks.Requests.ShouldBe(fetches + 1, "the new kid made the broker fetch the keys again, once");

        // A storm of tokens naming kids nobody published, while the clock stands still: no fetch at all within the interval.
        var stranger = new RsaSecurityKey(RSA.Create(2048));
        for (var i = 0; i < 40; i++)
        {
            stranger.KeyId = $"unknown-{i}";
            var (status, body, _) = await _world.Broker.FetchAsync(_account, _cluster.Kubernetes(Now, "payments", "api", key: stranger));
            status.ShouldBe(HttpStatusCode.Unauthorized);
            body["type"]!.GetValue<string>().ShouldEndWith("/identity-invalid");
        }
        _jwks.Requests.ShouldBe(fetches + 1);

        _world.Clock.Advance(TimeSpan.FromSeconds(31));
        for (var i = 0; i < 10; i++) await _world.Broker.FetchAsync(_account, _cluster.Kubernetes(Now, "payments", $"w{i}", key: stranger));
        _jwks.Requests.ShouldBe(fetches + 2, "the next interval allows one more fetch, however many unknown kids");
    }

    [Fact]
    public async Task The_attacks_of_rfc_8725_are_each_refused_with_their_problem_type()
    {
        // Another trusted issuer whose key has the same kid as the cluster's.
        var other = new TokenSigner("https://other-issuer.example", "k1");
        await _world.AdminAsync(HttpMethod.Post, "/admin/issuers",
            new { name = "other", issuer = other.Issuer, audience = "broker", jwks = JsonNode.Parse(other.Jwks()) }, HttpStatusCode.Created);
        // An issuer that declares its tokens' typ, as OAuth access tokens do (RFC 9068: at+jwt).
        var typed = new TokenSigner("https://typed-issuer.example", "t1");
        await _world.AdminAsync(HttpMethod.Post, "/admin/issuers", new { name = "typed", issuer = typed.Issuer, audience = "broker",
            jwks = JsonNode.Parse(typed.Jwks()), token_type = "at+jwt" }, HttpStatusCode.Created);
        await ClientWithIdentityAsync("typed-client", "typed", "svc", null);
        await ClientWithIdentityAsync("billing", "prod-cluster", "system:serviceaccount:billing:*", null);
        await ClientWithIdentityAsync("billing-too", "prod-cluster", "system:serviceaccount:billing:api", null);

        var now = Now.ToUnixTimeSeconds();
        var payload = new Dictionary<string, object> { ["iss"] = ClusterIssuer, ["sub"] = "system:serviceaccount:payments:api", ["aud"] = "broker",
            ["iat"] = now, ["nbf"] = now, ["exp"] = now + 600, ["kubernetes.io"] = new { @namespace = "payments" } };
        var publicKey = _cluster.Current.Rsa.ExportParameters(false).Modulus!;
        var attacks = new (string What, string Token, string Type)[]
        {
            ("alg none", TokenSigner.Raw(new { alg = "none", typ = "JWT" }, payload, null), "identity-invalid"),
            ("HS256 keyed with the public key", TokenSigner.Raw(new { alg = "HS256", typ = "JWT", kid = "k1" }, payload, data => HMACSHA256.HashData(publicKey, data)), "identity-invalid"),
            ("the cluster's iss, signed by another issuer's key with the same kid", _cluster.Mint(Now, "system:serviceaccount:payments:api", key: other.Current,
                claims: new Dictionary<string, object> { ["kubernetes.io"] = new Dictionary<string, object> { ["namespace"] = "payments" } }), "identity-invalid"),
            ("wrong aud", _cluster.Kubernetes(Now, "payments", "api", audience: "vault"), "identity-invalid"),
            ("no aud", _cluster.Mint(Now, "system:serviceaccount:payments:api", audience: null), "identity-invalid"),
            ("expired", _cluster.Mint(Now - TimeSpan.FromHours(1), "system:serviceaccount:payments:api"), "identity-invalid"),
            ("not yet valid", _cluster.Mint(Now, "system:serviceaccount:payments:api", notBefore: Now + TimeSpan.FromMinutes(5)), "identity-invalid"),
            ("lifetime over the limit", _cluster.Mint(Now, "system:serviceaccount:payments:api", lifetime: TimeSpan.FromHours(2)), "identity-invalid"),
            ("unknown issuer", _cluster.Mint(Now, "system:serviceaccount:payments:api", issuer: "https://stranger.example"), "identity-invalid"),
            ("a claim condition not met", _cluster.Kubernetes(Now, "payments-staging", "api"), "identity-not-bound"),
            ("a valid token bound to no client", _cluster.Kubernetes(Now, "search", "api"), "identity-not-bound"),
            ("a subject two clients are bound to", _cluster.Kubernetes(Now, "billing", "api"), "identity-ambiguous"),
            ("a typ other than the one its issuer declares", typed.Mint(Now, "svc"), "identity-invalid"),
            ("over the size limit", _cluster.Mint(Now, "system:serviceaccount:payments:api",
                claims: new Dictionary<string, object> { ["padding"] = new string('x', WorkloadIdentity.MaxTokenLength) }), "identity-invalid"),
        };

        foreach (var (what, token, type) in attacks)
        {
            var (status, body, response) = await _world.Broker.FetchAsync(_account, token);
            status.ShouldBe(HttpStatusCode.Unauthorized, $"{what}: {body.ToJsonString()}");
            body["type"]!.GetValue<string>().ShouldBe($"https://broker.dev/errors/{type}", what);
            body.ToJsonString().ShouldNotContain(token[..Math.Min(token.Length, 40)], customMessage: what); // the token is never echoed
            response.Headers.WwwAuthenticate.ToString().ShouldContain("invalid_token", customMessage: what);
        }
        (await _world.Broker.FetchAsync(_account, _cluster.Kubernetes(Now, "payments", "api"))).Status.ShouldBe(HttpStatusCode.OK, "the genuine token still works");
        (await _world.Broker.FetchAsync(_account, typed.Mint(Now, "svc", tokenType: "at+jwt"))).Status.ShouldBe(HttpStatusCode.OK, "the declared typ is accepted");

        // Counted in the minute's auth.failed row with the reasons, naming the trusted issuer, never a token.
        await _world.DrainAsync();
        var detail = string.Join("\n", await _world.DetailsAsync(AuditActions.AuthFailed));
        detail.ShouldContain("identity: identity not bound (issuer prod-cluster, subject system:serviceaccount:search:api)");
        detail.ShouldContain("identity: wrong audience (issuer prod-cluster)");
        foreach (var (_, token, _) in attacks) detail.ShouldNotContain(token[..Math.Min(token.Length, 40)]);
    }

    [Fact]
    public async Task An_issuer_signing_with_ed25519_is_trusted_for_eddsa_tokens_and_a_forged_or_disallowed_one_is_refused()
    {
        const string Issuer = "https://spire.example.org";
        using var key = NSec.Cryptography.Key.Create(NSec.Cryptography.SignatureAlgorithm.Ed25519);
        using var impostor = NSec.Cryptography.Key.Create(NSec.Cryptography.SignatureAlgorithm.Ed25519);
        var x = Base64UrlEncoder.Encode(key.PublicKey.Export(NSec.Cryptography.KeyBlobFormat.RawPublicKey));
        var jwks = new { keys = new[] { new { kty = "OKP", crv = "Ed25519", x, kid = "spire-1", use = "sig" } } };
        await _world.AdminAsync(HttpMethod.Post, "/admin/issuers",
            new { name = "spire", issuer = Issuer, audience = "broker", jwks, algorithms = new[] { "EdDSA" } }, HttpStatusCode.Created);
        await ClientWithIdentityAsync("spiffe-payments", "spire", "spiffe://example.org/ns/payments/sa/api", null);
        var now = Now.ToUnixTimeSeconds();
        var payload = new { iss = Issuer, sub = "spiffe://example.org/ns/payments/sa/api", aud = "broker", iat = now, exp = now + 300 };
        string Signed(NSec.Cryptography.Key with, string alg = "EdDSA") =>
            TokenSigner.Raw(new { alg, typ = "JWT", kid = "spire-1" }, payload, data => NSec.Cryptography.SignatureAlgorithm.Ed25519.Sign(with, data));

        var (status, body, _) = await _world.Broker.FetchAsync(_account, Signed(key));
        status.ShouldBe(HttpStatusCode.OK, body.ToJsonString());

        foreach (var (what, token) in new[] { ("signed by another key with the same kid", Signed(impostor)), ("an alg the issuer does not allow", Signed(key, "ES256")) })
        {
            var refused = await _world.Broker.FetchAsync(_account, token);
            refused.Status.ShouldBe(HttpStatusCode.Unauthorized, what);
            refused.Body["type"]!.GetValue<string>().ShouldEndWith("/identity-invalid", customMessage: what);
        }
    }

    [Fact]
    public async Task Replacing_an_issuers_static_jwks_trusts_the_new_key_at_once_and_no_longer_the_old_one_keeping_its_bindings()
    {
        const string Issuer = "https://private-cluster.internal";
        var cluster = new TokenSigner(Issuer, "old");
        await _world.AdminAsync(HttpMethod.Post, "/admin/issuers",
            new { name = "private", issuer = Issuer, audience = "broker", jwks = JsonNode.Parse(cluster.Jwks()) }, HttpStatusCode.Created);
        await ClientWithIdentityAsync("batch", "private", "system:serviceaccount:batch:job", null);
        var oldToken = cluster.Mint(Now, "system:serviceaccount:batch:job");
        (await _world.Broker.FetchAsync(_account, oldToken)).Status.ShouldBe(HttpStatusCode.OK); // validated and remembered

        var rotated = new TokenSigner(Issuer, "new");
        var replaced = await _world.AdminAsync(HttpMethod.Put, "/admin/issuers/private",
            new { issuer = Issuer, audience = "broker", jwks = JsonNode.Parse(rotated.Jwks()), max_lifetime_seconds = 1800 });
        replaced["max_lifetime_seconds"]!.GetValue<int>().ShouldBe(1800);

        var fresh = await _world.Broker.FetchAsync(_account, rotated.Mint(Now, "system:serviceaccount:batch:job"));
        fresh.Status.ShouldBe(HttpStatusCode.OK, fresh.Body.ToJsonString());
        var (status, refusal, _) = await _world.Broker.FetchAsync(_account, oldToken);
        status.ShouldBe(HttpStatusCode.Unauthorized, "a token remembered under the old keys is checked again");
        refusal["type"]!.GetValue<string>().ShouldEndWith("/identity-invalid");
        (await _world.AdminAsync(HttpMethod.Get, "/admin/clients/batch/identities")).ToJsonString().ShouldContain("system:serviceaccount:batch:job");

        await _world.AdminAsync(HttpMethod.Put, "/admin/issuers/private", new { kind = "x509", certificates = "x" }, HttpStatusCode.BadRequest);
        await _world.AdminAsync(HttpMethod.Put, "/admin/issuers/private", new { name = "renamed", issuer = Issuer, audience = "broker" },
            HttpStatusCode.BadRequest);
        await _world.AdminAsync(HttpMethod.Put, "/admin/issuers/no-such", new { issuer = Issuer, audience = "broker" }, HttpStatusCode.NotFound);
        await _world.DrainAsync();
        (await _world.DetailsAsync(AuditActions.IssuerUpdated)).ShouldBe(["private; changed: jwks, max_lifetime_seconds"]);
    }

    [Fact]
    public async Task A_flood_of_distinct_bad_tokens_costs_no_more_signature_checks_than_the_budget()
    {
        await using var world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Broker:WorkloadIdentity:SignatureChecksPerSecond"] = "5",
            ["Broker:WorkloadIdentity:SignatureCheckBurst"] = "10",
        });
        var account = (await world.AccountAsync(DialectNames.SimpleJwt)).Name;
        var identities = world.Broker.Services.GetRequiredService<WorkloadIdentity>();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 100; i++)
            statuses.Add((await world.Broker.FetchAsync(account, _cluster.Mint(world.Clock.GetUtcNow(), $"flood-{i}"))).Status);

        var bound = 10 + (long)Math.Ceiling(watch.Elapsed.TotalSeconds * 5) + 1;
        identities.SignatureChecks.ShouldBeLessThanOrEqualTo(bound);
        statuses.ShouldContain(HttpStatusCode.TooManyRequests);
        statuses.ShouldAllBe(s => s == HttpStatusCode.TooManyRequests || s == HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Issuers_and_bindings_refuse_bad_input_and_an_unbound_identity_stops_working_at_once()
    {
        foreach (var (body, field) in new (object, string)[]
        {
            (new { name = "x1", issuer = "https://a.example", jwks_uri = _jwks.JwksUrl }, "audience"),
            (new { name = "x2", issuer = "https://b.example", audience = "broker", jwks_uri = _jwks.JwksUrl, algorithms = new[] { "HS256" } }, "algorithms"),
            (new { name = "x3", issuer = "https://c.example", audience = "broker", algorithms = new[] { "none" }, jwks_uri = _jwks.JwksUrl }, "algorithms"),
            (new { name = "x4", issuer = "https://d.example", audience = "broker", jwks = JsonNode.Parse("""{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}""") }, "jwks"),
            (new { name = "x5", issuer = "https://e.example", audience = "broker", max_lifetime_seconds = 10, jwks_uri = _jwks.JwksUrl }, "max_lifetime_seconds"),
        })
        {
            var problem = await _world.AdminAsync(HttpMethod.Post, "/admin/issuers", body, HttpStatusCode.BadRequest);
            problem["errors"]![field].ShouldNotBeNull(problem.ToJsonString());
        }
        var unknownIssuer = await _world.AdminAsync(HttpMethod.Post, "/admin/clients/payments/identities",
            new { issuer = "nope", subject = "x" }, HttpStatusCode.BadRequest);
        unknownIssuer["errors"]!["issuer"].ShouldNotBeNull();
        (await _world.AdminAsync(HttpMethod.Post, "/admin/clients/payments/identities",
            new { issuer = "prod-cluster", subject = "*" }, HttpStatusCode.BadRequest))["errors"]!["subject"].ShouldNotBeNull();

        var token = _cluster.Kubernetes(Now, "payments", "api");
        (await _world.Broker.FetchAsync(_account, token)).Status.ShouldBe(HttpStatusCode.OK);
        var checks = Identities.SignatureChecks;
        using var listed = await _world.Broker.GetAsync("/admin/clients/payments/identities", BrokerWorld.AdminKey);
        var binding = JsonNode.Parse(await listed.Content.ReadAsStringAsync())!.AsArray().ShouldHaveSingleItem()!;
        binding["issuer"]!.GetValue<string>().ShouldBe("prod-cluster");
        binding["claims"]!["kubernetes.io.namespace"]!.GetValue<string>().ShouldBe("payments");
        using (var deleted = await _world.Broker.SendAsync(_world.Broker.Request(HttpMethod.Delete,
                   $"/admin/clients/payments/identities/{binding["id"]!.GetValue<string>()}", BrokerWorld.AdminKey)))
            deleted.StatusCode.ShouldBe(HttpStatusCode.NoContent);

        var (status, refusal, _) = await _world.Broker.FetchAsync(_account, token); // the very token validated a moment ago
        status.ShouldBe(HttpStatusCode.Unauthorized);
        refusal["type"]!.GetValue<string>().ShouldEndWith("/identity-not-bound");
        Identities.SignatureChecks.ShouldBe(checks, "a change of the bindings binds remembered tokens again, with no new signature check");
    }

    private async Task ClientWithIdentityAsync(string client, string issuer, string subject, Dictionary<string, string>? claims)
    {
        var created = await _world.AdminAsync(HttpMethod.Post, "/admin/clients",
            new { name = client, role = "consumer", accounts = new[] { _account } }, HttpStatusCode.Created);
        _world.Secrets.Add(created["api_key"]!.GetValue<string>());
        await _world.AdminAsync(HttpMethod.Post, $"/admin/clients/{client}/identities", new { issuer, subject, claims }, HttpStatusCode.Created);
    }
}
