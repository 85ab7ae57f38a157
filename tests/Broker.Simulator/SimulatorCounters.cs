namespace Broker.Simulator;

/// <summary>A consistent snapshot of every counter, taken under the state's lock.</summary>
public sealed record SimulatorCounters(
    int TotalLogins,
    int TotalFailedLogins,
    int TotalRefreshes,
    int TotalRefreshReuses,
    int TotalRejectedRefreshes,
    int TotalRequests,
    int InFlight,
    IReadOnlyDictionary<string, UserCounters> Users,
    int TotalGraceRefreshes = 0);

/// <summary>What one username (or OAuth2 client id, for client credentials) has done.</summary>
public sealed record UserCounters(int Logins, int FailedLogins, int Refreshes, int RefreshReuses, int RejectedRefreshes);
