namespace Broker.Simulator;

/// <summary>
/// What every token endpoint shares: counting the request, standing in a fault for the real answer, and holding
/// the answer back for the configured latency.
/// </summary>
internal static class UpstreamAnswer
{
    // A proxy's error page, not JSON: a broker must not assume a 5xx body is readable.
    private const string ServiceUnavailablePage =
        "<html><head><title>503 Service Temporarily Unavailable</title></head>" +
        "<body><h1>503 Service Temporarily Unavailable</h1></body></html>";

    /// <summary>Endpoint filter for the token endpoints: counts the request and keeps <see cref="SimulatorState.InFlight"/>.</summary>
    public static async ValueTask<object?> CountRequest(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var state = context.HttpContext.RequestServices.GetRequiredService<SimulatorState>();
        state.BeginRequest(context.HttpContext.Request.Path);
        try
        {
            return await next(context);
        }
        finally
        {
            state.EndRequest();
        }
    }

    /// <summary>
    /// Answers with <paramref name="work"/> unless a fault applies to <paramref name="username"/>, then waits out
    /// the latency. The work runs before the wait: a refresh token is spent even if the caller goes away meanwhile.
    /// </summary>
    public static async Task<IResult> AnswerAsync(HttpContext http, SimulatorState state, string? username, Func<IResult> work)
    {
        // Stopping the simulator ends hung requests too, so a test's shutdown never waits for a Timeout fault.
        var stopping = http.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, stopping);
        try
        {
            if (state.TakeScript(username) is { } script)
            {
                await script.WriteAsync(http.Response, cancel.Token);
                return Results.Empty;
            }

            var fault = state.FaultFor(username);
            if (fault == Fault.Timeout) await Task.Delay(Timeout.Infinite, cancel.Token);

            var answer = fault switch
            {
                Fault.ServerError => Results.Content(ServiceUnavailablePage, "text/html", statusCode: StatusCodes.Status503ServiceUnavailable),
                Fault.Garbage => Results.Content("<html>oops</html>", "text/html", statusCode: StatusCodes.Status200OK),
                _ => work(),
            };

            var latency = state.Latency;
            if (latency > TimeSpan.Zero) await Task.Delay(latency, cancel.Token);
            await state.AnswersReleased.WaitAsync(cancel.Token);
            return answer;
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // The caller gave up or we are stopping: drop the connection rather than invent an answer.
            http.Abort();
            return Results.Empty;
        }
    }
}
