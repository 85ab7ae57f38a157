using Npgsql;

namespace Broker.Bench;

/// <summary>
/// Providers, accounts and a consumer through the real admin API, users through the simulator's control API; many
/// accounts as SQL copies of one made through the API (<see cref="CopiesAsync"/>).
/// </summary>
public static class Seeding
{
    /// <summary>The password of every copied account (and of its simulator user).</summary>
    public const string CopyPassword = "pw-copy";

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

    /// <summary>
    /// {prefix}0 through the admin API, fetched once with the key so its tokens are stored: the row
    /// <see cref="CopiesAsync"/> copies. Its tokens are issued for an hour, so that no copy expires while a scenario
    /// runs; the simulator's lifetimes are put back to their defaults afterwards.
    /// </summary>
    public static async Task TemplateAsync(Stack stack, Uri broker, string prefix, string key, string provider = "sim-sliderule")
    {
        var name = $"{prefix}0";
        await stack.SimAsync(HttpMethod.Post, "/_sim/users", new { username = name, password = CopyPassword, org_name = "UofMDTest" });
        await stack.AdminAsync(HttpMethod.Post, "/admin/accounts",
            new { name, provider, username = name, password = CopyPassword, org_name = "UofMDTest" });
        await stack.SimAsync(HttpMethod.Put, "/_sim/settings", new { access_lifetime_seconds = 3600, refresh_lifetime_seconds = 7200 });
        try
        {
            var (status, _) = await stack.FetchAsync(broker, name, key);
            if ((int)status != 200) throw new InvalidOperationException($"fetching the template {name}: {status}");
        }
        finally
        {
            await stack.SimAsync(HttpMethod.Put, "/_sim/settings", new { access_lifetime_seconds = 300, refresh_lifetime_seconds = 1800 });
        }
    }

    /// <summary>
    /// Accounts {prefix}1 .. {prefix}{count-1} as copies of {prefix}0 (<see cref="TemplateAsync"/>), by SQL in one
    /// statement: through the admin API 10,000 accounts took 433 s. Every column but id, name and username is copied,
    /// the stored tokens too: they are encrypted under a purpose without the account's id, so every copy decrypts,
    /// and a first fetch is a read, not a login. Only the missing ones are made, so a scenario can grow its accounts
    /// point by point. A broker started before the copies does not know them (no change is written): start a fresh one.
    /// </summary>
    public static async Task<TimeSpan> CopiesAsync(Stack stack, string prefix, int count)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await using var connection = new NpgsqlConnection(stack.ConnectionString);
        await connection.OpenAsync();
        // Every column the migrations have made, so a column added later is copied too.
        var columns = new List<string>();
        await using (var read = new NpgsqlCommand(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'accounts' ORDER BY ordinal_position", connection))
        await using (var reader = await read.ExecuteReaderAsync())
            while (await reader.ReadAsync()) columns.Add(reader.GetString(0));
        var have = await CountAsync(connection, prefix);
        if (have >= count) return watch.Elapsed;
        var values = columns.Select(c => c switch
        {
            "id" => "gen_random_uuid()",
            "name" or "username" => "@prefix || i",
            _ => $"t.\"{c}\"",
        });
        await using (var command = new NpgsqlCommand(
            $"""
            INSERT INTO accounts ({string.Join(", ", columns.Select(c => $"\"{c}\""))})
            SELECT {string.Join(", ", values)}
              FROM accounts t, generate_series(@have, @count - 1) i
             WHERE t.name = @prefix || '0' AND t.access_token_encrypted IS NOT NULL
            ON CONFLICT DO NOTHING
            """, connection))
        {
            command.Parameters.AddWithValue("prefix", prefix);
            command.Parameters.AddWithValue("have", have);
            command.Parameters.AddWithValue("count", count);
            await command.ExecuteNonQueryAsync();
        }
        if (await CountAsync(connection, prefix) < count)
            throw new InvalidOperationException($"{prefix}0 has no stored tokens, or {prefix}1 .. are not contiguous: fewer than {count} accounts");
        // As a database in use would have: the planner's statistics know the table's size.
        await using (var analyze = new NpgsqlCommand("ANALYZE accounts", connection)) await analyze.ExecuteNonQueryAsync();
        // The simulator's users, so that a login (none is expected: the tokens are valid) would succeed.
        await stack.SimAsync(HttpMethod.Post, "/_sim/users/range", new { prefix, start = have, count = count - have, password = CopyPassword, org_name = "UofMDTest" });
        return watch.Elapsed;
    }

    private static async Task<int> CountAsync(NpgsqlConnection connection, string prefix)
    {
        await using var command = new NpgsqlCommand("SELECT count(*)::int FROM accounts WHERE starts_with(name, @prefix)", connection);
        command.Parameters.AddWithValue("prefix", prefix);
        return (int)(await command.ExecuteScalarAsync())!;
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
