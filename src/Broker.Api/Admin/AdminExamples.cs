using Broker.Api.Audit;
using Broker.Api.Tokens;

namespace Broker.Api.Admin;

/// <summary>
/// The example bodies of the OpenAPI document, as real contract objects: serialized with the API's own JSON
/// settings they are snake_case and cannot drift from the types (see ExampleFilters).
/// </summary>
public static class AdminExamples
{
    private static readonly DateTimeOffset At = new(2026, 1, 15, 9, 30, 0, TimeSpan.Zero);

    public static readonly IReadOnlyDictionary<Type, object> ByType = new Dictionary<Type, object>
    {
        [typeof(ProviderRequest)] = new ProviderRequest("sliderule", "sliderule", "https://ps.slideruleearth.io/api/org_token/",
            DefaultAccessLifetimeSeconds: 3600),
        [typeof(ProviderResponse)] = new ProviderResponse("sliderule", "sliderule", "https://ps.slideruleearth.io/api/org_token/", null,
            "https://ps.slideruleearth.io/api/org_token/refresh/", null, false, "basic", null, null, 3600, null, At, At),
        [typeof(ProviderCheck.CheckResponse)] = new ProviderCheck.CheckResponse("sliderule", false,
        [
            new ProviderCheck.UrlCheck("token_url", "https://ps.slideruleearth.io/api/org_token/", true, 400, "application/json", true,
                "token_url answered 400 in JSON to an empty request: it is a token endpoint."),
            new ProviderCheck.UrlCheck("refresh_url", "https://ps.slideruleearth.io/api/org_token/refreh/", true, 404, "text/html", false,
                "refresh_url answered 404: check the path."),
        ]),
        [typeof(AccountRequest)] = new AccountRequest("sliderule-prod", "sliderule", "alice", "change-me", "UofMDTest"),
        [typeof(AccountPatch)] = new AccountPatch(Password: "new-password"),
        [typeof(RefreshTokenImport)] = new RefreshTokenImport("def50200a1b2c3d4e5f6", At.AddDays(90)),
        [typeof(AccountResponse)] = new AccountResponse("sliderule-prod", "sliderule", "alice", "UofMDTest", null, null, true, false,
            "active", At.AddHours(1), At.AddDays(1), null, At, null, At.AddDays(-30), At),
        [typeof(AccountTestResponse)] = new AccountTestResponse("sliderule-prod", true, null, "active", null, At.AddHours(1), At.AddDays(1)),
        [typeof(Connect.ConnectResponse)] = new Connect.ConnectResponse(
            "https://accounts.example/o/oauth2/auth?response_type=code&client_id=broker&redirect_uri=https%3A%2F%2Fbroker.example%2Foauth%2Fcallback" +
            "&state=3Yx9Vq0bQe8tWm5cRk2pLz7uHn4sJf1aGd6iXo0yBvE&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256" +
            "&scope=offline_access&access_type=offline", At.AddMinutes(10)),
        [typeof(ClientRequest)] = new ClientRequest("reports-service", "consumer", ["sliderule-prod"], []),
        [typeof(GrantsRequest)] = new GrantsRequest(["sliderule-prod"], ["keycloak-lab"]),
        [typeof(RotateKeyRequest)] = new RotateKeyRequest(3600),
        [typeof(ClientResponse)] = new ClientResponse("reports-service", "consumer", ["sliderule-prod"], [], "brk_Q2xpZW50", false, null, null,
            At, At, "brk_Q2xpZW50S2V5U2hvd25PbmNlT25seS1TdG9yZUl0Tm93"),
        [typeof(IssuerRequest)] = new IssuerRequest("prod-cluster", "https://kubernetes.default.svc.cluster.local", "broker",
            "https://k8s-oidc.example.com/openid/v1/jwks", MaxLifetimeSeconds: 3600),
        [typeof(IssuerResponse)] = new IssuerResponse("prod-cluster", "https://kubernetes.default.svc.cluster.local", "broker",
            "https://k8s-oidc.example.com/openid/v1/jwks", false, ["RS256", "PS256", "ES256"], 3600, At),
        [typeof(IdentityBindingRequest)] = new IdentityBindingRequest("prod-cluster", "system:serviceaccount:payments:*",
            new Dictionary<string, string> { ["kubernetes.io.namespace"] = "payments" }),
        [typeof(IdentityBindingResponse)] = new IdentityBindingResponse(Guid.Parse("0194a2b3-7c00-7000-8000-000000000004"), "prod-cluster",
            "system:serviceaccount:payments:*", new Dictionary<string, string> { ["kubernetes.io.namespace"] = "payments" }, At),
        [typeof(WebhookRequest)] = new WebhookRequest("https://ops.example.com/broker-events", ["account.needs_attention", "account.recovered"],
            Description: "on-call channel"),
        [typeof(WebhookPatch)] = new WebhookPatch(Events: ["account.needs_attention", "account.inactive", "account.recovered"]),
        [typeof(WebhookResponse)] = new WebhookResponse(Guid.Parse("0194a2b3-7c00-7000-8000-000000000001"), "https://ops.example.com/broker-events",
            ["account.needs_attention", "account.recovered"], "on-call channel", At, At, "whsec_c2lnbmluZy1zZWNyZXQtc2hvd24tb25jZS1vbmx5"),
        [typeof(WebhookDeliveryPage)] = new WebhookDeliveryPage(
            [new WebhookDeliveryItem(Guid.Parse("0194a2b3-7c00-7000-8000-000000000002"), Guid.Parse("0194a2b3-7c00-7000-8000-000000000003"),
                "account.needs_attention", "delivered", 2, 200, null, At, null, At.AddSeconds(4))],
            null),
        [typeof(TokenResponse)] = new TokenResponse("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl", "Bearer",
            At.AddHours(1), 3600, "sliderule-prod"),
        [typeof(AuditPage)] = new AuditPage(
            [new AuditItem(At, 1840, At.AddSeconds(-1), At, "token.served", "hit", "reports-service",
                "jwt:https://kubernetes.default.svc system:serviceaccount:reports:reports-service", "sliderule-prod", "sliderule", null, null, "0HN7:00000001", "10.0.0.7",
                null, "3q2+7w6VSXeW0b1XyFFz1ngbXtF2mI9rQ1h5n5fvEO4=")],
            "MjAyNi0wMS0xNVQwOTozMDowMFp8NDI"),
        [typeof(TokenHmacRequest)] = new TokenHmacRequest("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"),
        [typeof(TokenHmacResponse)] = new TokenHmacResponse("3q2+7w6VSXeW0b1XyFFz1ngbXtF2mI9rQ1h5n5fvEO4="),
        [typeof(UsageReport)] = new UsageReport(At.AddDays(-7), At, ["client", "account"], new UsageFilters(null, null, "sliderule", null),
        [
            new UsageRow(new Dictionary<string, string?> { ["client"] = "reports-service", ["account"] = "sliderule-prod" }, 48210, 2, 331, 3),
            new UsageRow(new Dictionary<string, string?> { ["client"] = "billing-service", ["account"] = "sliderule-prod" }, 1250, 0, 0, 0),
        ]),
        [typeof(RejectedTokenRequest)] = new RejectedTokenRequest("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"),
    };
}
