using Microsoft.AspNetCore.Http.HttpResults;

namespace Broker.Simulator;

/// <summary>
/// <c>/_sim/</c>: the <see cref="SimulatorState"/> over HTTP, for tests and demos that run the simulator as its
/// own process. JSON is snake_case like everything else here.
/// </summary>
internal static class ControlEndpoints
{
    public static RouteGroupBuilder MapControl(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/_sim");
        group.MapPost("/users", AddUser);
        group.MapPost("/users/range", AddUsers);
        group.MapPut("/users/{username}", UpdateUser);
        group.MapPost("/clients", AddClient);
        group.MapGet("/settings", GetSettings);
        group.MapPut("/settings", UpdateSettings);
        group.MapPut("/faults", SetFault);
        group.MapDelete("/faults", ClearFaults);
        group.MapPut("/scripts/{username}", SetScript);
        group.MapDelete("/scripts/{username}", (string username, SimulatorState state) =>
        {
            state.SetScript(username, null);
            return TypedResults.NoContent();
        });
        group.MapGet("/counters", (SimulatorState state) => TypedResults.Ok(state.GetCounters()));
        group.MapPost("/reset", Reset);
        return group;
    }

    private static Results<NoContent, BadRequest<string>> AddUser(NewUser body, SimulatorState state)
    {
        if (string.IsNullOrEmpty(body.Username) || body.Password is null)
            return TypedResults.BadRequest("username and password are required");
        state.AddUser(body.Username, body.Password, body.OrgName);
        return TypedResults.NoContent();
    }

    /// <summary>prefix{start} .. prefix{start + count - 1} with one password: a benchmark's many accounts in one call, not one each.</summary>
    private static Results<NoContent, BadRequest<string>> AddUsers(NewUsers body, SimulatorState state)
    {
        if (string.IsNullOrEmpty(body.Prefix) || body.Password is null || body.Start < 0 || body.Count is < 0 or > 10_000_000)
            return TypedResults.BadRequest("prefix and password are required, start and count (at most 10,000,000) may not be negative");
        for (var i = body.Start; i < body.Start + body.Count; i++) state.AddUser($"{body.Prefix}{i}", body.Password, body.OrgName);
        return TypedResults.NoContent();
    }

    private static Results<NoContent, NotFound> UpdateUser(string username, UserChange body, SimulatorState state)
    {
        if (!state.HasUser(username)) return TypedResults.NotFound();
        if (body.Password is not null) state.SetPassword(username, body.Password);
        if (body.Active is { } active) state.SetActive(username, active);
        return TypedResults.NoContent();
    }

    private static Results<NoContent, BadRequest<string>> AddClient(NewClient body, SimulatorState state)
    {
        if (string.IsNullOrEmpty(body.ClientId)) return TypedResults.BadRequest("client_id is required");
        state.AddClient(body.ClientId, body.ClientSecret);
        // The authorization code flow's registration, for a broker in another process (the demo's).
        if (!string.IsNullOrEmpty(body.RedirectUri)) state.AuthorizationCodes.RegisterRedirect(body.ClientId, body.RedirectUri);
        return TypedResults.NoContent();
    }

    private static Ok<Settings> GetSettings(SimulatorState state) => TypedResults.Ok(Settings.Of(state));

    private static Results<Ok<Settings>, BadRequest<string>> UpdateSettings(SettingsChange body, SimulatorState state)
    {
        if (body.AccessLifetimeSeconds < 0 || body.RefreshLifetimeSeconds < 0 || body.LatencyMs < 0)
            return TypedResults.BadRequest("settings may not be negative");
        if (body.AccessLifetimeSeconds is { } access) state.AccessLifetime = TimeSpan.FromSeconds(access);
        if (body.RefreshLifetimeSeconds is { } refresh) state.RefreshLifetime = TimeSpan.FromSeconds(refresh);
        if (body.LatencyMs is { } latency) state.Latency = TimeSpan.FromMilliseconds(latency);
        if (body.SimplejwtRotateRefreshTokens is { } rotate) state.SimpleJwtRotateRefreshTokens = rotate;
        if (body.Oauth2RotateRefreshTokens is { } oauth2Rotate) state.OAuth2RotateRefreshTokens = oauth2Rotate;
        if (body.RefreshReuseGraceSeconds is { } grace) state.RefreshReuseGrace = grace > 0 ? TimeSpan.FromSeconds(grace) : null;
        if (body.ResendRepeatsFirstAnswer is { } repeat) state.ResendRepeatsFirstAnswer = repeat;
        return TypedResults.Ok(Settings.Of(state));
    }

    private static Results<NoContent, BadRequest<string>> SetScript(string username, ScriptChange body, SimulatorState state)
    {
        if (body.Status is not (>= 100 and <= 999)) return TypedResults.BadRequest("status is required (100 to 999)");
        byte[] bytes;
        try
        {
            bytes = body.BodyBase64 is null ? [] : Convert.FromBase64String(body.BodyBase64);
        }
        catch (FormatException)
        {
            return TypedResults.BadRequest("body_base64 is not base64");
        }
        state.SetScript(username, new ScriptedAnswer(body.Status.Value, body.ContentType, bytes, body.WithContentLength ?? true,
            body.ChunkBytes ?? 64 * 1024, TimeSpan.FromMilliseconds(body.ChunkDelayMs ?? 0)));
        return TypedResults.NoContent();
    }

    private sealed record ScriptChange(int? Status, string? ContentType, string? BodyBase64, bool? WithContentLength, int? ChunkBytes, double? ChunkDelayMs);

    private static Results<NoContent, BadRequest<string>> SetFault(FaultChange body, SimulatorState state)
    {
        if (body.Fault is not { } fault) return TypedResults.BadRequest("fault is required");
        state.SetFault(fault, body.Username);
        return TypedResults.NoContent();
    }

    private static NoContent ClearFaults(SimulatorState state)
    {
        state.ClearFaults();
        return TypedResults.NoContent();
    }

    private static NoContent Reset(SimulatorState state)
    {
        state.Reset();
        return TypedResults.NoContent();
    }

    private sealed record NewUser(string? Username, string? Password, string? OrgName);

    private sealed record NewUsers(string? Prefix, int Start, int Count, string? Password, string? OrgName);

    private sealed record UserChange(string? Password, bool? Active);

    private sealed record NewClient(string? ClientId, string? ClientSecret, string? RedirectUri = null);

    /// <param name="RefreshReuseGraceSeconds">0 for none.</param>
    private sealed record SettingsChange(double? AccessLifetimeSeconds, double? RefreshLifetimeSeconds, double? LatencyMs, bool? SimplejwtRotateRefreshTokens,
        double? RefreshReuseGraceSeconds = null, bool? Oauth2RotateRefreshTokens = null, bool? ResendRepeatsFirstAnswer = null);

    private sealed record FaultChange(Fault? Fault, string? Username);

    private sealed record Settings(double AccessLifetimeSeconds, double RefreshLifetimeSeconds, double LatencyMs, bool SimplejwtRotateRefreshTokens,
        double RefreshReuseGraceSeconds, bool Oauth2RotateRefreshTokens, bool ResendRepeatsFirstAnswer)
    {
        public static Settings Of(SimulatorState state) => new(
            state.AccessLifetime.TotalSeconds, state.RefreshLifetime.TotalSeconds, state.Latency.TotalMilliseconds, state.SimpleJwtRotateRefreshTokens,
            state.RefreshReuseGrace?.TotalSeconds ?? 0, state.OAuth2RotateRefreshTokens, state.ResendRepeatsFirstAnswer);
    }
}
