namespace Broker.Simulator;

/// <summary>A way for the simulated upstream to misbehave, set with <see cref="SimulatorState.SetFault"/>.</summary>
public enum Fault
{
    /// <summary>Behave normally.</summary>
    None,

    /// <summary>Answer 503 with a small HTML page, like a proxy in front of a dead upstream.</summary>
    ServerError,

    /// <summary>Never answer; the request hangs until the caller gives up (or the simulator stops).</summary>
    Timeout,

    /// <summary>Answer 200 with a body that is not JSON: <c>&lt;html&gt;oops&lt;/html&gt;</c>.</summary>
    Garbage,

    /// <summary>Logins get the dialect's bad-credentials error even with the right password.</summary>
    RejectCredentials,

    /// <summary>The user behaves as if <see cref="SimulatorState.SetActive"/> had been called with false.</summary>
    Inactive,
}
