namespace Broker.Bench;

/// <summary>Providers, accounts and a consumer through the real admin API, users through the simulator's control API.</summary>
public static class Seeding
{
    public static async Task ProviderAsync(Stack stack, string name = "sim-sliderule") =>
        await stack.AdminAsync(HttpMethod.Post, "/admin/providers",
            new { name, dialect = "sliderule", token_url = new Uri(stack.Simulator, "/api/org_token/").ToString() });

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
}
