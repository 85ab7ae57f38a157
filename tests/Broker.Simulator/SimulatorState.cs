namespace Broker.Simulator;

/// <summary>
/// Everything the simulated upstreams know: users, OAuth2 clients, issued tokens, settings, faults and counters.
/// Tests read and change it directly when the simulator runs in-process; <c>/_sim/</c> exposes the same over HTTP.
/// </summary>
/// <remarks>
/// One lock guards it all. That is what makes a refresh an atomic check-and-mark (20 concurrent uses of one
/// refresh token give exactly one success), and keeps counters consistent with the tokens they count.
/// A simulator serves few requests per second; a single lock costs nothing here.
/// </remarks>
public sealed class SimulatorState
{
    public static readonly TimeSpan DefaultAccessLifetime = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan DefaultRefreshLifetime = TimeSpan.FromMinutes(30);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, User> _users = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string?> _clients = new(StringComparer.Ordinal);
    private readonly Dictionary<string, AccessGrant> _access = new(StringComparer.Ordinal);
    private readonly Dictionary<string, RefreshGrant> _refresh = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _spent = new(StringComparer.Ordinal); // token → when it was spent
    private readonly Dictionary<string, Fault> _userFaults = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ScriptedAnswer> _scripts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _scriptedAnswers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tally> _tallies = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OAuth2Endpoints.Tokens> _firstAnswers = new(StringComparer.Ordinal);
    private readonly List<Waiter> _waiters = [];

    private TimeProvider _time;
    private TimeSpan _accessLifetime = DefaultAccessLifetime;
    private TimeSpan _refreshLifetime = DefaultRefreshLifetime;
    private TimeSpan _latency = TimeSpan.Zero;
    private bool _simpleJwtRotate = true;
    private TimeSpan? _refreshReuseGrace;
    private bool _oauth2Rotate = true;
    private bool _resendRepeatsFirstAnswer;
    private Fault _globalFault = Fault.None;
    private int _nextUserId;
    private int _totalFailedLogins, _totalRejectedRefreshes, _totalRequests, _inFlight;
    private int _totalLogins, _totalRefreshes, _totalRefreshReuses, _totalGraceRefreshes;

    public SimulatorState(TimeProvider? time = null) => _time = time ?? TimeProvider.System;

    /// <summary>The authorization-code grant's clients, consents and codes (AuthorizationCodeEndpoints).</summary>
    public AuthorizationCodes AuthorizationCodes { get; } = new();

    /// <summary>
    /// Raised (outside the lock) when a request reaches a token endpoint, with the request path, before any
    /// fault or latency applies. Lets a test act at the exact moment an upstream call is under way.
    /// </summary>
    public event Action<string>? RequestStarted;

    /// <summary>The clock for <c>iat</c>/<c>exp</c> and every expiry check. <see cref="SimulatorApp.Build"/> sets it.</summary>
    public TimeProvider Time
    {
        get { lock (_gate) return _time; }
        set { ArgumentNullException.ThrowIfNull(value); lock (_gate) _time = value; }
    }

    // ---- Settings ----------------------------------------------------------------------------------------

    /// <summary>Lifetime of access tokens (default 5 minutes).</summary>
    public TimeSpan AccessLifetime
    {
        get { lock (_gate) return _accessLifetime; }
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero); lock (_gate) _accessLifetime = value; }
    }

    /// <summary>Lifetime of refresh tokens (default 30 minutes).</summary>
    public TimeSpan RefreshLifetime
    {
        get { lock (_gate) return _refreshLifetime; }
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero); lock (_gate) _refreshLifetime = value; }
    }

    /// <summary>
    /// Real time every token endpoint waits before it answers (default none). The work (and a refresh token's
    /// rotation) is done first, so a caller that dies while waiting has lost the new refresh token, as it would
    /// with a slow real upstream.
    /// </summary>
    public TimeSpan Latency
    {
        get { lock (_gate) return _latency; }
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero); lock (_gate) _latency = value; }
    }

    /// <summary>
    /// Holds every token endpoint's answer (after its work is done, as <see cref="Latency"/> does) until
    /// <see cref="ReleaseAnswers"/>: a test that needs several requests in flight at once waits for them
    /// (<see cref="WaitForInFlightAsync"/>) instead of hoping they overlap within a delay.
    /// </summary>
    public void HoldAnswers()
    {
        lock (_gate) _held ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Lets every held answer go, and the ones that come after.</summary>
    public void ReleaseAnswers()
    {
        TaskCompletionSource? held;
        lock (_gate) (held, _held) = (_held, null);
        held?.TrySetResult();
    }

    /// <summary>Completes when answers are no longer held.</summary>
    internal Task AnswersReleased
    {
        get { lock (_gate) return _held?.Task ?? Task.CompletedTask; }
    }

    private TaskCompletionSource? _held;

    /// <summary>
    /// simplejwt's <c>ROTATE_REFRESH_TOKENS</c> (default true). When false a refresh answers only <c>access</c>
    /// and the refresh token stays usable until it expires.
    /// </summary>
    public bool SimpleJwtRotateRefreshTokens
    {
        get { lock (_gate) return _simpleJwtRotate; }
        set { lock (_gate) _simpleJwtRotate = value; }
    }

    /// <summary>
    /// How long a spent refresh token is still accepted (default: not at all), as Okta, Auth0, Keycloak's max reuse
    /// and django-oauth-toolkit's <c>REFRESH_TOKEN_GRACE_PERIOD_SECONDS</c> do: a client whose answer was lost can
    /// send it again. Such a refresh counts in <see cref="TotalGraceRefreshes"/>, not as a reuse.
    /// </summary>
    public TimeSpan? RefreshReuseGrace
    {
        get { lock (_gate) return _refreshReuseGrace; }
        set { if (value < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(value)); lock (_gate) _refreshReuseGrace = value; }
    }

    /// <summary>
    /// What a spent refresh token resent within <see cref="RefreshReuseGrace"/> gets (oauth2-password). False (the
    /// default): new tokens. True: the very tokens issued for its first use, with an <c>expires_in</c> counted as if
    /// they were new, as django-oauth-toolkit answers: the access token is as old as that first use.
    /// </summary>
    public bool ResendRepeatsFirstAnswer
    {
        get { lock (_gate) return _resendRepeatsFirstAnswer; }
        set { lock (_gate) _resendRepeatsFirstAnswer = value; }
    }

    /// <summary>
    /// django-oauth-toolkit's <c>ROTATE_REFRESH_TOKEN</c> for oauth2-password (default true). When false a refresh
    /// answers the same refresh token, which stays usable until it expires.
    /// </summary>
    public bool OAuth2RotateRefreshTokens
    {
        get { lock (_gate) return _oauth2Rotate; }
        set { lock (_gate) _oauth2Rotate = value; }
    }

    // ---- Users and clients -------------------------------------------------------------------------------

    /// <summary>Adds an active user, or replaces the password and organization of an existing one (and reactivates it).</summary>
    public void AddUser(string username, string password, string? orgName = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(username);
        ArgumentNullException.ThrowIfNull(password);
        lock (_gate)
        {
            if (_users.TryGetValue(username, out var user))
            {
                user.Password = password;
                user.OrgName = orgName;
                user.Active = true;
            }
            else
            {
                _users[username] = new User(username, ++_nextUserId) { Password = password, OrgName = orgName };
            }
        }
    }

    public bool HasUser(string username)
    {
        lock (_gate) return _users.ContainsKey(username);
    }

    /// <exception cref="KeyNotFoundException">No such user.</exception>
    public void SetPassword(string username, string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        lock (_gate) UserLocked(username).Password = password;
    }

    /// <summary>
    /// An inactive user gets 200 <c>{"active":false}</c> from SlideRule's login and refresh, and the dialect's
    /// credentials (login) or token (refresh) error everywhere else.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such user.</exception>
    public void SetActive(string username, bool active)
    {
        lock (_gate) UserLocked(username).Active = active;
    }

    /// <summary>Adds or replaces an OAuth2 client. A null secret makes a public client, which sends only its id.</summary>
    public void AddClient(string clientId, string? clientSecret)
    {
        ArgumentException.ThrowIfNullOrEmpty(clientId);
        lock (_gate) _clients[clientId] = clientSecret;
    }

    // ---- Faults ------------------------------------------------------------------------------------------

    /// <summary>
    /// Makes requests misbehave: all of them (username null) or only those that can be traced to the user (the
    /// username in a login, the owner of a presented refresh token, the client id of client credentials). A
    /// user's own fault wins over the global one. <see cref="Fault.None"/> removes the fault at that level.
    /// </summary>
    public void SetFault(Fault fault, string? username = null)
    {
        lock (_gate)
        {
            if (username is null) _globalFault = fault;
            else if (fault == Fault.None) _userFaults.Remove(username);
            else _userFaults[username] = fault;
        }
    }

    public void ClearFaults()
    {
        lock (_gate)
        {
            _globalFault = Fault.None;
            _userFaults.Clear();
            _scripts.Clear();
        }
    }

    /// <summary>
    /// Every token request traced to <paramref name="username"/> (login or refresh, as for <see cref="SetFault"/>)
    /// gets <paramref name="answer"/> instead of the dialect's own; null goes back to normal. Wins over faults.
    /// </summary>
    public void SetScript(string username, ScriptedAnswer? answer)
    {
        lock (_gate)
        {
            if (answer is null) _scripts.Remove(username);
            else _scripts[username] = answer;
        }
    }

    /// <summary>The scripted answer for a request traced to <paramref name="username"/>, counted as given; or null.</summary>
    internal ScriptedAnswer? TakeScript(string? username)
    {
        lock (_gate)
        {
            if (username is null || !_scripts.TryGetValue(username, out var answer)) return null;
            _scriptedAnswers[username] = _scriptedAnswers.GetValueOrDefault(username) + 1;
            return answer;
        }
    }

    /// <summary>How many token requests traced to the user got a scripted answer (each login or refresh it sent).</summary>
    public int ScriptedAnswers(string username)
    {
        lock (_gate) return _scriptedAnswers.GetValueOrDefault(username);
    }

    /// <summary>The fault that applies to a request traced to <paramref name="username"/> (or to nobody).</summary>
    public Fault FaultFor(string? username)
    {
        lock (_gate) return FaultLocked(username);
    }

    // ---- Counters ----------------------------------------------------------------------------------------

    /// <summary>Successful logins (client credentials count under the client id).</summary>
    public int Logins(string username) => Read(username, t => t.Logins);

    /// <summary>Logins answered with a credentials, organization, field or inactive error.</summary>
    public int FailedLogins(string username) => Read(username, t => t.FailedLogins);

    /// <summary>Successful refreshes.</summary>
    public int Refreshes(string username) => Read(username, t => t.Refreshes);

    /// <summary>Refresh attempts with a token that had already been spent. A correct broker keeps this at zero.</summary>
    public int RefreshReuses(string username) => Read(username, t => t.RefreshReuses);

    /// <summary>Failed refreshes of any kind whose token could be traced to the user (reuses included).</summary>
    public int RejectedRefreshes(string username) => Read(username, t => t.RejectedRefreshes);

    public int TotalLogins { get { lock (_gate) return _totalLogins; } }
    public int TotalFailedLogins { get { lock (_gate) return _totalFailedLogins; } }
    public int TotalRefreshes { get { lock (_gate) return _totalRefreshes; } }
    public int TotalRefreshReuses { get { lock (_gate) return _totalRefreshReuses; } }

    /// <summary>Refreshes with a spent token accepted within <see cref="RefreshReuseGrace"/> (counted in the refreshes too).</summary>
    public int TotalGraceRefreshes { get { lock (_gate) return _totalGraceRefreshes; } }

    /// <summary>Failed refreshes, including those with a token nobody issued.</summary>
    public int TotalRejectedRefreshes { get { lock (_gate) return _totalRejectedRefreshes; } }

    /// <summary>Requests that reached a token endpoint (faulted ones included; <c>/whoami</c> and <c>/_sim/</c> not).</summary>
    public int TotalRequests { get { lock (_gate) return _totalRequests; } }

    /// <summary>Token endpoint requests being processed right now (latency and <see cref="Fault.Timeout"/> included).</summary>
    public int InFlight { get { lock (_gate) return _inFlight; } }

    public SimulatorCounters GetCounters()
    {
        lock (_gate)
        {
            var users = _tallies.ToDictionary(
                pair => pair.Key,
                pair => new UserCounters(pair.Value.Logins, pair.Value.FailedLogins, pair.Value.Refreshes,
                    pair.Value.RefreshReuses, pair.Value.RejectedRefreshes),
                StringComparer.Ordinal);
            return new SimulatorCounters(_totalLogins, _totalFailedLogins, _totalRefreshes, _totalRefreshReuses,
                _totalRejectedRefreshes, _totalRequests, _inFlight, users, _totalGraceRefreshes);
        }
    }

    /// <summary>Completes once <see cref="TotalRequests"/> reaches <paramref name="count"/>.</summary>
    /// <exception cref="TimeoutException">It did not within <paramref name="timeout"/> (real time).</exception>
    public Task WaitForRequestsAsync(int count, TimeSpan timeout) =>
        WaitAsync(() => _totalRequests >= count, timeout, $"{count} token requests");

    /// <summary>Completes once <see cref="InFlight"/> reaches <paramref name="count"/>.</summary>
    /// <exception cref="TimeoutException">It did not within <paramref name="timeout"/> (real time).</exception>
    public Task WaitForInFlightAsync(int count, TimeSpan timeout) =>
        WaitAsync(() => _inFlight >= count, timeout, $"{count} token requests in flight");

    /// <summary>
    /// Forgets users, clients, issued tokens, faults and counters, and puts the settings back to their defaults.
    /// Requests in flight and the clock are left alone.
    /// </summary>
    public void Reset()
    {
        lock (_gate)
        {
            _users.Clear();
            _clients.Clear();
            _access.Clear();
            _refresh.Clear();
            _spent.Clear();
            _userFaults.Clear();
            _scripts.Clear();
            _scriptedAnswers.Clear();
            _tallies.Clear();
            _globalFault = Fault.None;
            _accessLifetime = DefaultAccessLifetime;
            _refreshLifetime = DefaultRefreshLifetime;
            _latency = TimeSpan.Zero;
            _simpleJwtRotate = true;
            _refreshReuseGrace = null;
            _resendRepeatsFirstAnswer = false;
            _firstAnswers.Clear();
            _oauth2Rotate = true;
            _nextUserId = 0;
            _totalLogins = _totalFailedLogins = _totalRefreshes = _totalRefreshReuses = _totalGraceRefreshes = 0;
            _totalRejectedRefreshes = _totalRequests = 0;
        }
    }

    // ---- Tokens ------------------------------------------------------------------------------------------

    /// <summary>Whether we issued this access token and it has not expired by <see cref="Time"/>.</summary>
    public bool IsValidAccessToken(string token) => FindAccess(token) is not null;

    /// <summary>When an access token we issued expires (null for one we never issued).</summary>
    public DateTimeOffset? AccessTokenExpiresAt(string token)
    {
        lock (_gate) return _access.TryGetValue(token, out var grant) ? grant.ExpiresAt : null;
    }

    /// <summary>
    /// Makes <c>/whoami</c> refuse a token that has not expired, as an upstream does after revoking it or
    /// restarting with new signing keys. Returns false when we never issued the token.
    /// </summary>
    public bool RevokeAccessToken(string token)
    {
        lock (_gate) return _access.Remove(token);
    }

    internal AccessGrant? FindAccess(string? token)
    {
        if (token is null) return null;
        lock (_gate)
        {
            return _access.TryGetValue(token, out var grant) && _time.GetUtcNow() < grant.ExpiresAt ? grant : null;
        }
    }

    internal void RememberAccess(string token, AccessGrant grant)
    {
        lock (_gate) _access[token] = grant;
    }

    internal void RememberRefresh(string token, RefreshGrant grant)
    {
        lock (_gate) _refresh[token] = grant;
    }

    /// <summary>
    /// An OAuth2 refresh token for the user and client, as a consent given elsewhere (an authorization code flow)
    /// would have produced: what an admin imports into a refresh-only account.
    /// </summary>
    public string IssueRefreshToken(string username, string clientId, string scope = "read write")
    {
        var token = TokenFactory.Opaque();
        lock (_gate) _refresh[token] = new RefreshGrant(Dialect.OAuth2Password, username, _time.GetUtcNow() + _refreshLifetime) { ClientId = clientId, Scope = scope };
        return token;
    }

    /// <summary>Who a refresh token belongs to, so a per-user fault can apply before the token is checked.</summary>
    internal string? OwnerOf(string? refreshToken)
    {
        if (refreshToken is null) return null;
        lock (_gate) return _refresh.TryGetValue(refreshToken, out var grant) ? grant.Username : null;
    }

    // ---- What the endpoints ask --------------------------------------------------------------------------

    /// <summary>Checks a username and password, with the user's faults applied. Does not count: the endpoint
    /// may still refuse (SlideRule's organization check) and counts with <see cref="CountLogin"/>.</summary>
    internal LoginCheck Authenticate(string username, string password)
    {
        lock (_gate)
        {
            var fault = FaultLocked(username);
            if (!_users.TryGetValue(username, out var user) || user.Password != password || fault == Fault.RejectCredentials)
                return new LoginCheck(LoginStatus.Rejected, null);
            return new LoginCheck(user.Active && fault != Fault.Inactive ? LoginStatus.Ok : LoginStatus.Inactive, user.Info);
        }
    }

    /// <summary>Checks an OAuth2 client. A public client passes with no secret (or an empty one).</summary>
    internal ClientCheck AuthenticateClient(string? clientId, string? secret)
    {
        if (clientId is null) return ClientCheck.Rejected;
        lock (_gate)
        {
            if (!_clients.TryGetValue(clientId, out var expected)) return ClientCheck.Rejected;
            if (expected is null) return string.IsNullOrEmpty(secret) ? ClientCheck.Public : ClientCheck.Rejected;
            return secret == expected ? ClientCheck.Confidential : ClientCheck.Rejected;
        }
    }

    internal void CountLogin(string? username, bool succeeded)
    {
        lock (_gate)
        {
            if (succeeded) _totalLogins++;
            else _totalFailedLogins++;
            if (string.IsNullOrEmpty(username)) return;
            var tally = TallyLocked(username);
            if (succeeded) tally.Logins++;
            else tally.FailedLogins++;
        }
    }

    /// <summary>Counts a refresh refused before its token was looked at (an OAuth2 client failing to authenticate).</summary>
    internal void CountRejectedRefresh(string? username)
    {
        lock (_gate) RejectLocked(username);
    }

    /// <summary>
    /// Checks a refresh token and, if it is good, spends it, all under the lock, and counts the outcome.
    /// <paramref name="spend"/> is false only for simplejwt without rotation, whose refresh token stays usable.
    /// </summary>
    internal RefreshCheck Redeem(string? token, Dialect dialect, string? clientId = null, bool spend = true)
    {
        lock (_gate)
        {
            if (token is null || !_refresh.TryGetValue(token, out var grant))
            {
                RejectLocked(null);
                return new RefreshCheck(RefreshStatus.Invalid);
            }

            if (grant.Dialect != dialect || grant.ClientId != clientId)
            {
                RejectLocked(grant.Username);
                return new RefreshCheck(RefreshStatus.Invalid, grant);
            }

            // Real upstreams check expiry before the blacklist, so an expired spent token reads as expired;
            // it still counts as a reuse, because presenting it at all is the broker's mistake.
            var now = _time.GetUtcNow();
            var expired = now >= grant.ExpiresAt;
            var withinGrace = false;
            if (_spent.TryGetValue(token, out var spentAt) && !expired && _refreshReuseGrace is { } grace && now < spentAt + grace)
            {
                withinGrace = true; // accepted again, not spent again: the grace runs from the first use
            }
            else if (_spent.ContainsKey(token))
            {
                _totalRefreshReuses++;
                TallyLocked(grant.Username).RefreshReuses++;
                RejectLocked(grant.Username);
                return new RefreshCheck(expired ? RefreshStatus.Invalid : RefreshStatus.Reused, grant);
            }

            if (expired)
            {
                RejectLocked(grant.Username);
                return new RefreshCheck(RefreshStatus.Invalid, grant);
            }

            if (!_users.TryGetValue(grant.Username, out var user) || !user.Active || FaultLocked(grant.Username) == Fault.Inactive)
            {
                RejectLocked(grant.Username);
                return new RefreshCheck(RefreshStatus.Inactive, grant);
            }

            if (grant.OrgName is not null && user.OrgName is not null && grant.OrgName != user.OrgName)
            {
                RejectLocked(grant.Username);
                return new RefreshCheck(RefreshStatus.NotMember, grant, user.Info);
            }

            if (spend && !withinGrace) _spent[token] = now;
            if (withinGrace) _totalGraceRefreshes++;
            _totalRefreshes++;
            TallyLocked(grant.Username).Refreshes++;
            return new RefreshCheck(RefreshStatus.Ok, grant, user.Info, withinGrace);
        }
    }

    /// <summary>Keeps the answer to a refresh token's first use, for <see cref="ResendRepeatsFirstAnswer"/>.</summary>
    internal void RememberFirstAnswer(string refreshToken, OAuth2Endpoints.Tokens answer)
    {
        lock (_gate)
            if (_resendRepeatsFirstAnswer) _firstAnswers.TryAdd(refreshToken, answer);
    }

    /// <summary>The answer to a refresh token's first use, when a resend within the grace is to repeat it.</summary>
    internal OAuth2Endpoints.Tokens? FirstAnswerTo(string refreshToken)
    {
        lock (_gate)
            return _resendRepeatsFirstAnswer && _firstAnswers.TryGetValue(refreshToken, out var answer) ? answer : null;
    }

    /// <summary>Counts a request to a token endpoint and raises <see cref="RequestStarted"/>.</summary>
    internal void BeginRequest(string path)
    {
        lock (_gate)
        {
            _totalRequests++;
            _inFlight++;
            SignalLocked();
        }
        RequestStarted?.Invoke(path);
    }

    internal void EndRequest()
    {
        lock (_gate) _inFlight--;
    }

    // ---- Internals ---------------------------------------------------------------------------------------

    private Fault FaultLocked(string? username) =>
        username is not null && _userFaults.TryGetValue(username, out var fault) ? fault : _globalFault;

    private User UserLocked(string username) =>
        _users.TryGetValue(username, out var user) ? user : throw new KeyNotFoundException($"No simulated user '{username}'.");

    private Tally TallyLocked(string username)
    {
        if (!_tallies.TryGetValue(username, out var tally)) _tallies[username] = tally = new Tally();
        return tally;
    }

    private void RejectLocked(string? username)
    {
        _totalRejectedRefreshes++;
        if (!string.IsNullOrEmpty(username)) TallyLocked(username).RejectedRefreshes++;
    }

    private int Read(string username, Func<Tally, int> field)
    {
        lock (_gate) return _tallies.TryGetValue(username, out var tally) ? field(tally) : 0;
    }

    private async Task WaitAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var waiter = new Waiter(condition);
        if (!Enlist(waiter)) return;
        try
        {
            await waiter.Done.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The simulator did not see {what} within {timeout}.");
        }
        finally
        {
            lock (_gate) _waiters.Remove(waiter);
        }
    }

    // Kept out of the async method: a lock on System.Threading.Lock may not sit in one.
    private bool Enlist(Waiter waiter)
    {
        lock (_gate)
        {
            if (waiter.Condition()) return false;
            _waiters.Add(waiter);
            return true;
        }
    }

    private void SignalLocked()
    {
        foreach (var waiter in _waiters)
            if (waiter.Condition()) waiter.Done.TrySetResult();
    }

    private sealed class User(string username, int userId)
    {
        public required string Password { get; set; }
        public string? OrgName { get; set; }
        public bool Active { get; set; } = true;
        public UserInfo Info => new(username, userId, OrgName);
    }

    private sealed class Tally
    {
        public int Logins, FailedLogins, Refreshes, RefreshReuses, RejectedRefreshes;
    }

    // Continuations run asynchronously so a waiting test never resumes while we hold the lock.
    private sealed record Waiter(Func<bool> Condition)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
