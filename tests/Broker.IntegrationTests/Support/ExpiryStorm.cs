using System.Net;
using Broker.Simulator;

namespace Broker.IntegrationTests.Support;

/// <summary>
/// Round after round, the clock moves past the account's access token and callers spread over every broker host of
/// the world fetch it at once: each round every caller must get the same one new token, from one upstream refresh.
/// </summary>
public static class ExpiryStorm
{
    public static async Task RunAsync(BrokerWorld world, string account, string upstreamUser, string key, int callers, int rounds)
    {
        await world.Broker.TokenAsync(account, key);
        // A slow upstream widens the window in which a second refresh could slip in.
        world.Simulator.Latency = TimeSpan.FromMilliseconds(50);

        for (var round = 1; round <= rounds; round++)
        {
            var refreshesBefore = world.Simulator.Refreshes(upstreamUser);
            world.Clock.Advance(SimulatorState.DefaultAccessLifetime);

            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var fetches = Enumerable.Range(0, callers).Select(i => Task.Run(async () =>
            {
                await start.Task;
                return await world.Brokers[i % world.Brokers.Count].FetchAsync(account, key);
            })).ToList();
            start.SetResult();
            var results = await Task.WhenAll(fetches);

            results.Where(r => r.Status != HttpStatusCode.OK).Select(r => r.Body.ToJsonString()).ShouldBeEmpty($"round {round}");
            var tokens = results.Select(r => r.Body["access_token"]!.GetValue<string>()).Distinct().ToList();
            tokens.Count.ShouldBe(1, $"round {round}: every caller gets the one new token");
            world.Simulator.IsValidAccessToken(tokens[0]).ShouldBeTrue();
            (world.Simulator.Refreshes(upstreamUser) - refreshesBefore).ShouldBe(1, $"round {round}: one upstream refresh");
        }
    }
}
