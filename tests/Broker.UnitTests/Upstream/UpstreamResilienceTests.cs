using Broker.Domain;
using Broker.Infrastructure.Upstream;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Polly.CircuitBreaker;
using static Broker.Domain.UpstreamOutcome;

namespace Broker.UnitTests.Upstream;

/// <summary>
/// Retries and the circuit breaker on a fake clock: a backoff that is waited for would keep the call from
/// finishing until the test moves the clock, so "finished without moving it" means "did not wait".
/// </summary>
public class UpstreamResilienceTests
{
    private static readonly Guid ProviderId = Guid.NewGuid();

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
    private int _calls;

    private UpstreamResilience Resilience(int loginRetries = 3, TimeSpan? retryDelay = null) => new(_time, Options.Create(new UpstreamOptions
    {
        LoginRetries = loginRetries,
        RetryDelay = retryDelay ?? TimeSpan.FromSeconds(1),
        BreakerMinimumThroughput = 2,
        BreakerFailureRatio = 0.5,
        BreakerBreakDuration = TimeSpan.FromSeconds(15),
    }));

    private Task<UpstreamOutcome> Answer(UpstreamOutcome outcome)
    {
        _calls++;
        return Task.FromResult(outcome);
    }

    private static Unavailable Down => new(503, "down");

    private async Task OpenTheCircuit(UpstreamResilience resilience)
    {
        for (var i = 0; i < 2; i++)
            await resilience.RefreshAsync(ProviderId, "provider", _ => Answer(Down), CancellationToken.None);
        resilience.CircuitStates().ShouldBe([("provider", CircuitState.Open)]);
        _calls = 0;
    }

    [Fact]
    public async Task Login_through_an_open_circuit_is_answered_unavailable_at_once_without_a_retry()
    {
        using var resilience = Resilience();
        await OpenTheCircuit(resilience);

        var login = resilience.LogInAsync(ProviderId, "provider", _ => Answer(Down), CancellationToken.None);

        login.IsCompleted.ShouldBeTrue(); // no backoff waited: the clock never moved
        var unavailable = (await login).ShouldBeOfType<Unavailable>();
        unavailable.Detail.ShouldContain("circuit open");
        unavailable.RetryAfter.ShouldNotBeNull().ShouldBeGreaterThan(TimeSpan.Zero);
        _calls.ShouldBe(0); // the breaker answered; the upstream was not asked
    }

    [Fact]
    public async Task Login_stops_retrying_when_its_own_failures_open_the_circuit()
    {
        using var resilience = Resilience(loginRetries: 3, retryDelay: TimeSpan.Zero);

        var outcome = await resilience.LogInAsync(ProviderId, "provider", _ => Answer(Down), CancellationToken.None);

        // Two failures open the circuit (minimum throughput 2); the third attempt meets it open and is the last.
        _calls.ShouldBe(2);
        outcome.ShouldBeOfType<Unavailable>().Detail.ShouldContain("circuit open");
    }

    [Fact]
    public async Task Unavailable_login_is_retried_after_its_backoff()
    {
        using var resilience = Resilience(loginRetries: 1);
        var answers = new Queue<UpstreamOutcome>([Down, new CredentialsRejected(401, "no")]);

        var login = resilience.LogInAsync(ProviderId, "provider", _ => Answer(answers.Dequeue()), CancellationToken.None);
        _calls.ShouldBe(1);
        login.IsCompleted.ShouldBeFalse(); // waiting out the backoff on the fake clock
        _time.Advance(TimeSpan.FromSeconds(2)); // past the delay with the most jitter

        (await login).ShouldBeOfType<CredentialsRejected>();
        _calls.ShouldBe(2);
    }

    [Fact]
    public async Task Unavailable_refresh_is_attempted_once()
    {
        using var resilience = Resilience(loginRetries: 3);

        var refresh = resilience.RefreshAsync(ProviderId, "provider", _ => Answer(Down), CancellationToken.None);

        refresh.IsCompleted.ShouldBeTrue();
        (await refresh).ShouldBeOfType<Unavailable>().Detail.ShouldBe("down");
        _calls.ShouldBe(1);
    }

    [Fact]
    public async Task Circuit_is_per_provider_and_shown_under_the_latest_name()
    {
        using var resilience = Resilience();
        await OpenTheCircuit(resilience);

        var other = await resilience.RefreshAsync(Guid.NewGuid(), "other", _ => Answer(new CredentialsRejected(401, "no")), CancellationToken.None);
        await resilience.RefreshAsync(ProviderId, "renamed", _ => Answer(Down), CancellationToken.None);

        other.ShouldBeOfType<CredentialsRejected>();
        _calls.ShouldBe(1);
        resilience.CircuitStates().OrderBy(c => c.Provider).ShouldBe([("other", CircuitState.Closed), ("renamed", CircuitState.Open)]);
    }
}
