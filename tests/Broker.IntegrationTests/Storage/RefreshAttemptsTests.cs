using Broker.Domain;
using Broker.Infrastructure.Persistence;
using Broker.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Broker.IntegrationTests.Storage;

/// <summary>The refresh record's SQL (docs/architecture.md, "Crash safety"): when the first unanswered attempt began.</summary>
public sealed class RefreshAttemptsTests : IAsyncLifetime
{
    private static readonly DateTimeOffset First = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);
    private BrokerWorld _world = null!;

    public async Task InitializeAsync() => _world = await BrokerWorld.StartAsync();

    public async Task DisposeAsync() => await _world.DisposeAsync();

    private IDbContextFactory<BrokerDbContext> Contexts => _world.Broker.Services.GetRequiredService<IDbContextFactory<BrokerDbContext>>();

    [Fact]
    public async Task A_resend_of_the_same_token_keeps_when_the_first_attempt_began()
    {
        var account = Guid.NewGuid();
        var sent = RefreshAttempt.Hash("refresh-1");

        await RefreshAttempts.BeginAsync(Contexts, account, sent, First, CancellationToken.None);
        await RefreshAttempts.BeginAsync(Contexts, account, sent, First.AddSeconds(20), CancellationToken.None);

        var attempt = await UnfinishedAsync(account);
        attempt!.StartedAt.ShouldBe(First);
        attempt.TokenSha256.ShouldBe(sent);
    }

    [Fact]
    public async Task A_record_of_another_token_is_history_and_is_replaced()
    {
        var account = Guid.NewGuid();
        await RefreshAttempts.BeginAsync(Contexts, account, RefreshAttempt.Hash("refresh-1"), First, CancellationToken.None);

        var next = RefreshAttempt.Hash("refresh-2");
        await RefreshAttempts.BeginAsync(Contexts, account, next, First.AddMinutes(5), CancellationToken.None);

        var attempt = await UnfinishedAsync(account);
        attempt!.StartedAt.ShouldBe(First.AddMinutes(5));
        attempt.TokenSha256.ShouldBe(next);
    }

    private async Task<RefreshAttempt?> UnfinishedAsync(Guid account)
    {
        await using var db = await Contexts.CreateDbContextAsync();
        return await RefreshAttempts.UnfinishedAsync(db, account, CancellationToken.None);
    }
}
