namespace Broker.IntegrationTests.Support;

public static class Poll
{
    /// <summary>
    /// Polls a condition that no event announces (a row written by a background writer, a log line). The timeout is
    /// a bound on a hang, not a speed target: it is generous so that a busy machine does not fail the test.
    /// </summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, int timeoutSeconds = 60, string? what = null)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(timeoutSeconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{what ?? "The condition"} did not come true within {timeoutSeconds} s.");
            await Task.Delay(50);
        }
    }

    /// <inheritdoc cref="UntilAsync(Func{Task{bool}}, int, string?)"/>
    public static Task UntilAsync(Func<bool> condition, int timeoutSeconds = 60, string? what = null) =>
        UntilAsync(() => Task.FromResult(condition()), timeoutSeconds, what);
}
