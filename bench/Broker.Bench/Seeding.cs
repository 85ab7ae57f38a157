namespace Broker.Bench;

/// <summary>Providers, accounts and a consumer through the real admin API, users through the simulator's control API.</summary>
public static class Seeding
{
    /// <summary>The simulator's provider; kept when an earlier scenario of the run made it already.</summary>
    public static async Task ProviderAsync(Stack stack, string name = "sim-sliderule")
    {
        var providers = await stack.AdminAsync(HttpMethod.Get, "/admin/providers");
        if (providers!.AsArray().Any(p => p!["name"]!.GetValue<string>() == name)) return;
        await stack.AdminAsync(HttpMethod.Post, "/admin/providers",
            new { name, dialect = "sliderule", token_url = new Uri(stack.Simulator, "/api/org_token/").ToString() });
    }

    public static async Task AccountsAsync(Stack stack, string prefix, int count, string provider = "sim-sliderule", int parallel = 16)
    {
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (i, _) =>
        {
            var name = $"{prefix}{i}";
            await stack.SimAsync(HttpMethod.Post, "/_sim/users", new { username = name, password = $"pw-{name}", org_name = "UofMDTest" });
            await stack.AdminAsync(HttpMethod.Post, "/admin/accounts",
                new { name, provider, username = name, password = $"pw-{name}", org_name = "UofMDTest" });
        });
    }

    public static async Task<string> ConsumerAsync(Stack stack, string name, string provider = "sim-sliderule")
    {
        var created = await stack.AdminAsync(HttpMethod.Post, "/admin/clients", new { name, role = "consumer", providers = new[] { provider } });
        return created!["api_key"]!.GetValue<string>();
    }

    public static async Task WarmAsync(Stack stack, Uri broker, string prefix, int count, string key, int parallel = 32) =>
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (i, _) =>
        {
            var (status, _) = await stack.FetchAsync(broker, $"{prefix}{i}", key);
            if ((int)status != 200) throw new InvalidOperationException($"warming {prefix}{i}: {status}");
        });

    /// <summary>
    /// A workload identity for the client: a trusted issuer with a static JWKS (an RSA key made here), the client bound
    /// to a subject, and a token of that issuer for it, valid for an hour: what a service sends instead of its key.
    /// </summary>
    public static async Task<string> WorkloadTokenAsync(Stack stack, string client)
    {
        var rsa = System.Security.Cryptography.RSA.Create(2048);
        var key = new Microsoft.IdentityModel.Tokens.RsaSecurityKey(rsa) { KeyId = "bench-1" };
        var p = rsa.ExportParameters(false);
        var jwks = new { keys = new[] { new { kty = "RSA", use = "sig", kid = key.KeyId,
            n = Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(p.Modulus), e = Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(p.Exponent) } } };
        const string Issuer = "https://bench-cluster.example";
        await stack.AdminAsync(HttpMethod.Post, "/admin/issuers", new { name = "bench-cluster", issuer = Issuer, audience = "broker", jwks });
        await stack.AdminAsync(HttpMethod.Post, $"/admin/clients/{client}/identities", new { issuer = "bench-cluster", subject = $"system:serviceaccount:bench:{client}" });
        var now = DateTime.UtcNow;
        return new Microsoft.IdentityModel.JsonWebTokens.JsonWebTokenHandler().CreateToken(new Microsoft.IdentityModel.Tokens.SecurityTokenDescriptor
        {
            Issuer = Issuer, Audience = "broker", IssuedAt = now, NotBefore = now, Expires = now.AddMinutes(59),
            Claims = new Dictionary<string, object> { ["sub"] = $"system:serviceaccount:bench:{client}" },
            SigningCredentials = new Microsoft.IdentityModel.Tokens.SigningCredentials(key, Microsoft.IdentityModel.Tokens.SecurityAlgorithms.RsaSha256),
        });
    }
}
