using Broker.Domain;

namespace Broker.UnitTests.Domain;

public sealed class AccountTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_refresh_answer_without_a_refresh_token_keeps_the_one_held()
    {
        var account = LoggedIn();

        account.Refreshed("access-2", "Bearer", Now.AddMinutes(10), refreshTokenEncrypted: null, refreshExpiresAt: null, Now.AddMinutes(5));

        account.AccessTokenEncrypted.ShouldBe("access-2");
        account.RefreshTokenEncrypted.ShouldBe("refresh-1");
        account.RefreshExpiresAt.ShouldBe(Now.AddDays(14));
        account.LastRefreshedAt.ShouldBe(Now.AddMinutes(5));
    }

    [Fact]
    public void A_login_replaces_the_whole_token_set_and_clears_the_last_error()
    {
        var account = LoggedIn();
        account.CallFailed("Unavailable: 503", Now);

        account.LoggedIn("access-2", "Bearer", Now.AddMinutes(10), refreshTokenEncrypted: null, refreshExpiresAt: null, Now.AddMinutes(1));

        account.RefreshTokenEncrypted.ShouldBeNull();
        account.LastError.ShouldBeNull();
        account.TokensObtainedAt.ShouldBe(Now.AddMinutes(1));
    }

    [Fact]
    public void Rejected_credentials_block_the_account_and_drop_its_tokens_until_an_admin_starts_it_afresh()
    {
        var account = LoggedIn();

        account.CredentialsRejected("CredentialsRejected: bad password", Now);

        account.State.ShouldBe(AccountState.NeedsAttention);
        account.LastError.ShouldBe("CredentialsRejected: bad password");
        account.AccessTokenEncrypted.ShouldBeNull();
        account.RefreshTokenEncrypted.ShouldBeNull();

        account.StartAfresh(Now.AddHours(1));

        account.State.ShouldBe(AccountState.Active);
        account.LastError.ShouldBeNull();
        account.UpdatedAt.ShouldBe(Now.AddHours(1));
    }

    [Fact]
    public void Each_block_names_its_reason_and_starting_afresh_clears_it()
    {
        var account = LoggedIn();
        account.CredentialsRejected("bad password", Now);
        account.AttentionReason.ShouldBe(AttentionReason.CredentialsRejected);
        account.NeedsSecrets("no password", Now);
        account.AttentionReason.ShouldBe(AttentionReason.SecretsMissing);
        account.BecameInactive("inactive", Now);
        account.AttentionReason.ShouldBe(AttentionReason.Inactive);
        account.ReconnectRequired("refresh token refused", Now);
        account.AttentionReason.ShouldBe(AttentionReason.ReconnectRequired);
        account.State.ShouldBe(AccountState.NeedsAttention);

        account.StartAfresh(Now);

        account.AttentionReason.ShouldBeNull();
        account.State.ShouldBe(AccountState.Active);
    }

    [Fact]
    public void An_imported_refresh_token_reactivates_the_account_and_drops_the_access_token_of_the_old_chain()
    {
        var account = LoggedIn();
        account.ReconnectRequired("refresh token refused", Now);

        account.RefreshTokenImported("refresh-imported", Now.AddDays(30), Now.AddMinutes(1));

        account.State.ShouldBe(AccountState.Active);
        account.AttentionReason.ShouldBeNull();
        account.LastError.ShouldBeNull();
        account.AccessTokenEncrypted.ShouldBeNull();
        account.RefreshTokenEncrypted.ShouldBe("refresh-imported");
        account.RefreshExpiresAt.ShouldBe(Now.AddDays(30));
    }

    [Fact]
    public void A_refresh_only_account_whose_client_credentials_are_refused_keeps_its_refresh_token_for_after_the_fix()
    {
        var account = LoggedIn();

        account.CredentialsRejected("invalid_client", Now, keepRefreshToken: true);

        account.State.ShouldBe(AccountState.NeedsAttention);
        account.AccessTokenEncrypted.ShouldBeNull();
        account.RefreshTokenEncrypted.ShouldBe("refresh-1");
    }

    [Fact]
    public void A_refresh_only_account_started_afresh_keeps_its_refresh_token()
    {
        var account = LoggedIn();

        account.StartAfresh(Now, keepRefreshToken: true);

        account.AccessTokenEncrypted.ShouldBeNull();
        account.RefreshTokenEncrypted.ShouldBe("refresh-1");
        account.RefreshExpiresAt.ShouldBe(Now.AddDays(14));
    }

    [Fact]
    public void A_failed_call_that_says_nothing_about_the_account_keeps_its_state_and_tokens()
    {
        var account = LoggedIn();

        account.CallFailed("Unavailable: 503", Now);

        account.State.ShouldBe(AccountState.Active);
        account.AccessTokenEncrypted.ShouldBe("access-1");
        account.LastError.ShouldBe("Unavailable: 503");
    }

    [Fact]
    public void A_dropped_access_token_leaves_the_refresh_token_to_refresh_with()
    {
        var account = LoggedIn();

        account.DropAccessToken(Now);

        account.AccessTokenEncrypted.ShouldBeNull();
        account.RefreshTokenEncrypted.ShouldBe("refresh-1");
    }

    private static Account LoggedIn()
    {
        var account = new Account { Name = "a" };
        account.LoggedIn("access-1", "Bearer", Now.AddMinutes(5), "refresh-1", Now.AddDays(14), Now.AddMinutes(-1));
        return account;
    }
}
