using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Broker.Domain;
using Broker.Infrastructure.Identity;
using Broker.IntegrationTests.Audit;
using Broker.IntegrationTests.Support;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Identity;

/// <summary>
/// docs/consumers.md, "Client certificates": a service authenticates with a client certificate of a CA the admins
/// trust (an x509 issuer), bound to its URI SAN (a SPIFFE ID) or subject. The broker terminates TLS itself (Kestrel on
/// HTTPS, with a server certificate made here), or a known proxy forwards the certificate in a header.
/// </summary>
public sealed class ClientCertificateTests : IAsyncLifetime
{
    private const string ForwardedHeader = "X-Client-Cert";
    private const string PaymentsApi = "spiffe://cluster.local/ns/payments/sa/api";
    private BrokerWorld _world = null!;
    private TestCertificates _ca = null!;
    private X509Certificate2 _server = null!;
    private Uri _https = null!;
    private string _account = null!;

    public async Task InitializeAsync()
    {
        _world = await BrokerWorld.StartAsync(brokers: 0, settings: new Dictionary<string, string?>
        {
            ["Broker:ClientCertificates:Enabled"] = "true",
            ["Broker:ClientCertificates:ForwardedHeader"] = ForwardedHeader,
            // The tests' own connections come from loopback: they stand for the proxy.
            ["Broker:ForwardedHeaders:KnownProxies:0"] = "127.0.0.1",
        });
        _ca = new TestCertificates("Payments CA", Now);
        _server = _ca.Server();
        await _world.AddBrokerAsync(builder => builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0); // first: the world's admin calls, and the proxy's, go here
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(_server));
        }));
        _https = new Uri(_world.Broker.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>()
            .Addresses.Single(a => a.StartsWith("https:", StringComparison.Ordinal)));
        _account = (await _world.AccountAsync(DialectNames.SimpleJwt)).Name;
        await _world.AdminAsync(HttpMethod.Post, "/admin/issuers",
            new { name = "payments-ca", kind = "x509", certificates = _ca.AuthorityPem }, HttpStatusCode.Created);
        await ClientWithCertificateAsync("payments", "spiffe://cluster.local/ns/payments/sa/*");
    }

    public async Task DisposeAsync()
    {
        await _world.DisposeAsync();
        _ca.Dispose();
    }

    private DateTimeOffset Now => _world.Clock.GetUtcNow();
    private ClientCertificateIdentity Certificates => _world.Broker.Services.GetRequiredService<ClientCertificateIdentity>();

    [Fact]
    public async Task A_client_certificate_from_the_configured_ca_fetches_the_accounts_token_and_a_second_fetch_builds_no_chain()
    {
        var svid = _ca.Client(PaymentsApi);
        var builds = Certificates.ChainBuilds;

        using (var http = Https(svid))
        {
            var (status, body) = await FetchAsync(http);
            status.ShouldBe(HttpStatusCode.OK, body.ToJsonString());
            _world.Simulator.IsValidAccessToken(body["access_token"]!.GetValue<string>()).ShouldBeTrue();
            Certificates.ChainBuilds.ShouldBe(builds + 1);
            for (var i = 0; i < 5; i++) (await FetchAsync(http)).Status.ShouldBe(HttpStatusCode.OK);
        }
        using (var again = Https(svid)) (await FetchAsync(again)).Status.ShouldBe(HttpStatusCode.OK); // a new TLS connection
        Certificates.ChainBuilds.ShouldBe(builds + 1, "a validated certificate is remembered by its thumbprint");

        // Who it is, for the audit trail: the certificate's SHA-256, never the certificate.
        var outcome = Certificates.Authenticate(svid).ShouldBeOfType<IdentityOutcome.Authenticated>();
        outcome.Client.Name.ShouldBe("payments");
        outcome.Client.Identity.ShouldBe($"cert:{TestCertificates.Thumbprint(svid)}");
        await _world.DrainAsync();
        (await _world.EventsAsync("action = 'token.served' AND identity = $1", outcome.Client.Identity!)).ShouldBe(7, "the trail names the certificate");
    }

    [Fact]
    public async Task Certificates_from_another_ca_expired_not_for_clients_or_without_the_bound_san_are_refused_with_their_problem_types()
    {
        using var other = new TestCertificates("Other CA", Now);
        using var impostor = new TestCertificates("Payments CA", Now); // the same name as the trusted CA, another key
        var refused = new (string What, X509Certificate2 Certificate, string Type, string Detail)[]
        {
            ("another CA's", other.Client(PaymentsApi), "identity-invalid", "not from a CA this broker trusts"),
            ("a CA named like the trusted one", impostor.Client(PaymentsApi), "identity-invalid", "not from a CA this broker trusts"),
            ("expired", _ca.Client(PaymentsApi, notBefore: Now.AddDays(-2), notAfter: Now.AddDays(-1)), "identity-invalid", "has expired"),
            ("not yet valid", _ca.Client(PaymentsApi, notBefore: Now.AddHours(1), notAfter: Now.AddHours(2)), "identity-invalid", "not valid yet"),
            ("meant for servers only", _ca.Client(PaymentsApi, clientAuth: false), "identity-invalid", "not meant for client authentication"),
            ("the CA's own", _ca.Authority, "identity-invalid", "is a CA certificate"),
            ("another SPIFFE ID", _ca.Client("spiffe://cluster.local/ns/search/sa/api"), "identity-not-bound", "no client is bound"),
            ("no URI SAN", _ca.Client(null), "identity-not-bound", "no client is bound"),
        };

        foreach (var (what, certificate, type, detail) in refused)
        {
            using var http = Https(certificate);
            using var response = await http.GetAsync($"/v1/accounts/{_account}/token");
            var text = await response.Content.ReadAsStringAsync();
            response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized, $"{what}: {text}");
            var body = JsonNode.Parse(text)!;
            body["type"]!.GetValue<string>().ShouldBe($"https://broker.dev/errors/{type}", what);
            body["detail"]!.GetValue<string>().ShouldContain(detail, Case.Sensitive, what);
            text.ShouldNotContain(Base64Of(certificate), customMessage: what); // the certificate is never echoed
            response.Headers.WwwAuthenticate.ToString().ShouldBe("Bearer", customMessage: what);
        }
        using (var anonymous = Https(null))
        {
            var (status, body) = await FetchAsync(anonymous);
            status.ShouldBe(HttpStatusCode.Unauthorized);
            body["type"]!.GetValue<string>().ShouldEndWith("/unauthorized");
        }
        using (var genuine = Https(_ca.Client(PaymentsApi))) (await FetchAsync(genuine)).Status.ShouldBe(HttpStatusCode.OK, "the genuine certificate still works");

        // Counted in the minute's auth.failed row with the reasons, naming the issuer and the names, never a certificate.
        await _world.DrainAsync();
        var details = string.Join("\n", await _world.DetailsAsync(AuditActions.AuthFailed));
        details.ShouldContain("certificate: client certificate from an untrusted CA");
        details.ShouldContain("certificate: client certificate expired");
        details.ShouldContain("certificate: client certificate not for client authentication (issuer payments-ca)");
        details.ShouldContain("certificate: identity not bound (issuer payments-ca, subject spiffe://cluster.local/"); // the detail column cuts the rest
        foreach (var (_, certificate, _, _) in refused) details.ShouldNotContain(Base64Of(certificate));
    }

    [Fact]
    public async Task A_remembered_certificate_is_refused_once_the_broker_clock_passes_its_expiry()
    {
        var svid = _ca.Client(PaymentsApi, notAfter: Now.AddMinutes(10));
        using var http = Https(svid);
        (await FetchAsync(http)).Status.ShouldBe(HttpStatusCode.OK);
        _world.Clock.Advance(TimeSpan.FromMinutes(11));
        var (status, body) = await FetchAsync(http);
        status.ShouldBe(HttpStatusCode.Unauthorized);
        body["detail"]!.GetValue<string>().ShouldContain("has expired");
    }

    [Fact]
    public async Task The_authorization_header_wins_over_a_client_certificate()
    {
        using var http = Https(_ca.Client(PaymentsApi));
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/accounts/{_account}/token");
        request.Headers.Authorization = new("Bearer", "brk_not-a-key-of-anyone-0123456789");
        using var response = await http.SendAsync(request);
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        JsonNode.Parse(await response.Content.ReadAsStringAsync())!["type"]!.GetValue<string>().ShouldEndWith("/unauthorized");
    }

    [Fact]
    public async Task A_binding_by_subject_dn_authenticates_a_certificate_of_that_subject_only()
    {
        await ClientWithCertificateAsync("billing", "CN=billing, OU=*, O=Acme", field: "subject_dn");
        using (var http = Https(_ca.Client(null, subject: "CN=billing, OU=finance, O=Acme")))
            (await FetchAsync(http)).Status.ShouldBe(HttpStatusCode.OK);
        using (var http = Https(_ca.Client(null, subject: "CN=billing-admin, OU=finance, O=Acme")))
            (await FetchAsync(http)).Body["type"]!.GetValue<string>().ShouldEndWith("/identity-not-bound");
        // A URI SAN that happens to read like the subject is not the subject.
        using (var http = Https(_ca.Client("urn:CN=billing, OU=finance, O=Acme", subject: "CN=other")))
            (await FetchAsync(http)).Body["type"]!.GetValue<string>().ShouldEndWith("/identity-not-bound");
    }

    [Fact]
    public async Task A_forwarded_certificate_is_believed_from_a_known_proxy_and_ignored_from_any_other_address()
    {
        using var other = new TestCertificates("Other CA", Now);
        var svid = _ca.Client(PaymentsApi);

        // From the proxy (plain http: it terminated TLS), as nginx forwards $ssl_client_escaped_cert.
        var (status, body) = await ForwardedAsync(_world.Broker, TestCertificates.Escaped(svid));
        status.ShouldBe(HttpStatusCode.OK, body.ToJsonString());
        (await ForwardedAsync(_world.Broker, Convert.ToBase64String(svid.RawData))).Status.ShouldBe(HttpStatusCode.OK, "base64 DER, as Traefik sends it");
        (await ForwardedAsync(_world.Broker, $"Hash=00;Cert=\"{TestCertificates.Escaped(svid)}\";URI={PaymentsApi}")).Status
            .ShouldBe(HttpStatusCode.OK, "Envoy's x-forwarded-client-cert");
        (await ForwardedAsync(_world.Broker, TestCertificates.Escaped(other.Client(PaymentsApi)))).Body["type"]!.GetValue<string>()
            .ShouldEndWith("/identity-invalid");
        (await ForwardedAsync(_world.Broker, "not a certificate")).Body["type"]!.GetValue<string>().ShouldEndWith("/identity-invalid");
        (await ForwardedAsync(_world.Broker, "")).Body["type"]!.GetValue<string>().ShouldEndWith("/unauthorized", customMessage: "nginx sends it empty without a certificate");

        // An instance whose known proxy is elsewhere: the header from this address is dropped before anything reads it.
        var settings = new Dictionary<string, string?>(_world.Settings) { ["Broker:ForwardedHeaders:KnownProxies:0"] = "10.20.30.40" };
        await using var elsewhere = await BrokerHost.StartAsync(settings, _world.Clock, _world.Logs);
        var (ignored, refusal) = await ForwardedAsync(elsewhere, TestCertificates.Escaped(svid));
        ignored.ShouldBe(HttpStatusCode.Unauthorized);
        refusal["type"]!.GetValue<string>().ShouldEndWith("/unauthorized");
    }

    [Fact]
    public async Task X509_issuers_and_their_bindings_refuse_bad_input_and_an_unbound_certificate_stops_working_at_once()
    {
        var keyPem = _ca.Authority.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem();
        _world.Secrets.Add(keyPem.Split('\n')[1]); // no answer may echo the key
        var leaf = _ca.Client(PaymentsApi);
        foreach (var (body, field) in new (object, string)[]
        {
            (new { name = "k1", kind = "x509", certificates = _ca.AuthorityPem + keyPem }, "certificates"),
            (new { name = "k2", kind = "x509", certificates = leaf.ExportCertificatePem() }, "certificates"),
            (new { name = "k3", kind = "x509", certificates = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----" }, "certificates"),
            (new { name = "k4", kind = "x509" }, "certificates"),
            (new { name = "k5", kind = "x509", certificates = _ca.AuthorityPem, audience = "broker" }, "audience"),
            (new { name = "k6", kind = "x.509", certificates = _ca.AuthorityPem }, "kind"),
        })
        {
            var problem = await _world.AdminAsync(HttpMethod.Post, "/admin/issuers", body, HttpStatusCode.BadRequest);
            problem["errors"]![field].ShouldNotBeNull(problem.ToJsonString());
        }
        (await _world.AdminAsync(HttpMethod.Post, "/admin/clients/payments/identities",
            new { issuer = "payments-ca", subject = "spiffe://x/*", claims = new Dictionary<string, string> { ["a"] = "b" } }, HttpStatusCode.BadRequest))
            ["errors"]!["claims"].ShouldNotBeNull();
        (await _world.AdminAsync(HttpMethod.Post, "/admin/clients/payments/identities",
            new { issuer = "payments-ca", subject = "spiffe://x/*", certificate_field = "dns" }, HttpStatusCode.BadRequest))
            ["errors"]!["certificate_field"].ShouldNotBeNull();

        var issuer = await _world.AdminAsync(HttpMethod.Get, "/admin/issuers/payments-ca");
        issuer["kind"]!.GetValue<string>().ShouldBe("x509");
        issuer["issuer"].ShouldBeNull();
        issuer["certificates"]!.AsArray().ShouldHaveSingleItem()!["sha256"]!.GetValue<string>().ShouldBe(TestCertificates.Thumbprint(_ca.Authority));

        using var http = Https(leaf);
        (await FetchAsync(http)).Status.ShouldBe(HttpStatusCode.OK);
        var builds = Certificates.ChainBuilds;
        var binding = (await _world.AdminAsync(HttpMethod.Get, "/admin/clients/payments/identities"))["items"]!.AsArray().ShouldHaveSingleItem()!;
        binding["certificate_field"]!.GetValue<string>().ShouldBe("uri_san");
        await _world.AdminAsync(HttpMethod.Delete, $"/admin/clients/payments/identities/{binding["id"]!.GetValue<string>()}", expect: HttpStatusCode.NoContent);

        var (status, refusal) = await FetchAsync(http); // the very certificate validated a moment ago
        status.ShouldBe(HttpStatusCode.Unauthorized);
        refusal["type"]!.GetValue<string>().ShouldEndWith("/identity-not-bound");
        Certificates.ChainBuilds.ShouldBe(builds, "a change of the bindings binds remembered certificates again, with no new chain build");
    }

    [Fact]
    public async Task A_flood_of_distinct_forged_certificates_builds_no_more_chains_than_the_budget()
    {
        await using var world = await BrokerWorld.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Broker:WorkloadIdentity:SignatureChecksPerSecond"] = "5",
            ["Broker:WorkloadIdentity:SignatureCheckBurst"] = "10",
            ["Broker:ClientCertificates:ForwardedHeader"] = ForwardedHeader,
            ["Broker:ForwardedHeaders:KnownProxies:0"] = "127.0.0.1",
        });
        var account = (await world.AccountAsync(DialectNames.SimpleJwt)).Name;
        await world.AdminAsync(HttpMethod.Post, "/admin/issuers", new { name = "payments-ca", kind = "x509", certificates = _ca.AuthorityPem }, HttpStatusCode.Created);
        using var impostor = new TestCertificates("Payments CA", Now); // named like the trusted CA: each of its certificates costs a chain build
        var forged = Enumerable.Range(0, 60).Select(i => TestCertificates.Escaped(impostor.Client($"spiffe://cluster.local/ns/flood/sa/{i}"))).ToList();
        var certificates = world.Broker.Services.GetRequiredService<ClientCertificateIdentity>();

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var statuses = new List<HttpStatusCode>();
        foreach (var certificate in forged) statuses.Add((await ForwardedAsync(world.Broker, certificate, account)).Status);

        certificates.ChainBuilds.ShouldBeLessThanOrEqualTo(10 + (long)Math.Ceiling(watch.Elapsed.TotalSeconds * 5) + 1);
        statuses.ShouldContain(HttpStatusCode.TooManyRequests);
        statuses.ShouldAllBe(s => s == HttpStatusCode.TooManyRequests || s == HttpStatusCode.Unauthorized);
    }

    private async Task ClientWithCertificateAsync(string client, string subject, string? field = null)
    {
        var created = await _world.AdminAsync(HttpMethod.Post, "/admin/clients",
            new { name = client, role = "consumer", accounts = new[] { _account } }, HttpStatusCode.Created);
        _world.Secrets.Add(created["api_key"]!.GetValue<string>());
        await _world.AdminAsync(HttpMethod.Post, $"/admin/clients/{client}/identities",
            new { issuer = "payments-ca", subject, certificate_field = field }, HttpStatusCode.Created);
    }

    /// <summary>A client of the broker's HTTPS endpoint that presents <paramref name="certificate"/> (none when null) and trusts only the broker's server certificate.</summary>
    private HttpClient Https(X509Certificate2? certificate)
    {
        var tls = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == _server.GetCertHashString(),
        };
        if (certificate is not null)
        {
            tls.ClientCertificates = [certificate];
            // Whatever CAs the server names as acceptable: the test decides what is presented.
            tls.LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate;
        }
        return new HttpClient(new SocketsHttpHandler { SslOptions = tls }) { BaseAddress = _https };
    }

    private async Task<(HttpStatusCode Status, JsonObject Body)> FetchAsync(HttpClient http)
    {
        using var response = await http.GetAsync($"/v1/accounts/{_account}/token");
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length > 0 ? JsonNode.Parse(text)!.AsObject() : new JsonObject());
    }

    private async Task<(HttpStatusCode Status, JsonObject Body)> ForwardedAsync(BrokerHost broker, string header, string? account = null)
    {
        using var request = broker.Request(HttpMethod.Get, $"/v1/accounts/{account ?? _account}/token", apiKey: null);
        request.Headers.TryAddWithoutValidation(ForwardedHeader, header);
        using var response = await broker.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length > 0 ? JsonNode.Parse(text)!.AsObject() : new JsonObject());
    }

    /// <summary>A stretch of the certificate's base64, which no answer or audit row may hold.</summary>
    private static string Base64Of(X509Certificate2 certificate) => Convert.ToBase64String(certificate.RawData)[40..100];
}
