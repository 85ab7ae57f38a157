using System.Collections.Concurrent;
using Broker.IntegrationTests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Broker.IntegrationTests.Client;

/// <summary>
/// A stand-in for the broker's consumer API on a loopback port: <c>GET /v1/accounts/{account}/token</c> answers an
/// access token valid for <see cref="Lifetime"/> when the bearer is one <see cref="Accept"/>ed, else a 401 problem as
/// the broker does for a token it cannot believe (<c>…/token/rejected</c> likewise answers 204 or 401). It also plays the upstream: <c>/whoami</c> answers 200 to the access tokens it handed out.
/// For tests of what Broker.Client sends, where a real broker's checks would be beside the point.
/// </summary>
public sealed class FakeBroker : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, bool> _accepted = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _issued = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _bearers = new();
    private int _tokens;

    private FakeBroker(WebApplication app) => _app = app;

    /// <summary>How long the access tokens it hands out live (the simulator's default).</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The bearer of every request to the consumer API, in order.</summary>
    public IReadOnlyList<string> Bearers => [.. _bearers];

    /// <summary>The access tokens handed out.</summary>
    public IReadOnlyCollection<string> Issued => [.. _issued.Keys];

    /// <summary>From now on, token requests with <paramref name="bearer"/> are answered.</summary>
    public void Accept(string bearer) => _accepted[bearer] = true;

    /// <summary>From now on, token requests with <paramref name="bearer"/> are refused (an expired token, say).</summary>
    public void Refuse(string bearer) => _accepted.TryRemove(bearer, out _);

    public static async Task<FakeBroker> StartAsync(TimeProvider clock)
    {
        var builder = WebApplication.CreateSlimBuilder(["--urls=http://127.0.0.1:0"]);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var broker = new FakeBroker(app);
        app.MapGet("/v1/accounts/{account}/token", (string account, HttpRequest request) =>
        {
            var bearer = Bearer(request);
            broker._bearers.Enqueue(bearer);
            if (!broker._accepted.ContainsKey(bearer))
                return Results.Problem(statusCode: 401, type: "https://broker.dev/errors/identity-invalid", title: "The identity token is not valid");
            var token = $"upstream-{Interlocked.Increment(ref broker._tokens)}";
            broker._issued[token] = true;
            return Results.Json(new Dictionary<string, object>
            {
                ["access_token"] = token,
                ["token_type"] = "Bearer",
                ["expires_at"] = clock.GetUtcNow() + Lifetime,
                ["expires_in"] = (long)Lifetime.TotalSeconds,
                ["account"] = account,
            });
        });
        app.MapPost("/v1/accounts/{account}/token/rejected", (HttpRequest request) =>
        {
            var bearer = Bearer(request);
            broker._bearers.Enqueue(bearer);
            return broker._accepted.ContainsKey(bearer) ? Results.NoContent() : Results.Problem(statusCode: 401, type: "https://broker.dev/errors/identity-invalid");
        });
        app.MapGet("/whoami", (HttpRequest request) => broker._issued.ContainsKey(Bearer(request)) ? Results.Ok() : Results.Unauthorized());
        await app.StartAsync();
        broker.BaseAddress = new Uri(app.ListeningAddress());
        return broker;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static string Bearer(HttpRequest request) =>
        request.Headers.Authorization.ToString() is var value && value.StartsWith("Bearer ", StringComparison.Ordinal) ? value["Bearer ".Length..] : "";
}
