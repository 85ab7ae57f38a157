using Broker.Domain;

namespace Broker.UnitTests.Domain;

/// <summary>What an admin's change of an account, or of its provider, clears and what it needs re-entered.</summary>
public sealed class AccountChangeTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);

    private static Provider Password(string name = "p") => new() { Id = Guid.NewGuid(), Name = name, Dialect = Dialect.OAuth2Password, TokenUrl = "https://p/token", ClientId = "app" };

    private static Account With(Provider provider, bool password = true, bool clientSecret = false)
    {
        var account = new Account
        {
            Name = "a", ProviderId = provider.Id, Provider = provider, Username = "alice",
            PasswordEncrypted = password ? "pw" : null, ClientSecretEncrypted = clientSecret ? "cs" : null,
        };
        account.LoggedIn("access-1", "Bearer", Now.AddMinutes(5), "refresh-1", Now.AddDays(14), Now.AddMinutes(-1));
        return account;
    }

    [Fact]
    public void A_move_clears_the_secrets_not_entered_again()
    {
        var account = With(Password(), clientSecret: true);
        var to = Password("q");

        var cleared = account.MoveTo(to, passwordReentered: false, clientSecretReentered: true);

        cleared.ShouldBe(["password"]);
        account.PasswordEncrypted.ShouldBeNull();
        account.ClientSecretEncrypted.ShouldBe("cs");
        account.Provider.ShouldBe(to);
        account.ProviderId.ShouldBe(to.Id);
    }

    [Fact]
    public void A_changed_account_starts_afresh_and_one_that_lost_secrets_needs_them()
    {
        var account = With(Password());
        var to = Password("q");
        var cleared = account.MoveTo(to, passwordReentered: false, clientSecretReentered: false);

        account.SettingsChanged(to, movedFrom: "p", cleared, Now);

        account.AccessTokenEncrypted.ShouldBeNull();
        account.RefreshTokenEncrypted.ShouldBeNull();
        account.State.ShouldBe(AccountState.NeedsAttention);
        account.AttentionReason.ShouldBe(AttentionReason.SecretsMissing);
        account.LastError.ShouldBe("secrets cleared: moved from provider p to q; re-enter password");
    }

    [Fact]
    public void A_refresh_only_account_keeps_its_refresh_token_through_a_change_unless_it_moved()
    {
        var provider = Password();
        var stays = With(provider, password: false);
        stays.SettingsChanged(provider, movedFrom: null, [], Now);
        stays.RefreshTokenEncrypted.ShouldBe("refresh-1");
        stays.AccessTokenEncrypted.ShouldBeNull();
        stays.State.ShouldBe(AccountState.Active);

        var to = Password("q");
        var moves = With(provider, password: false);
        moves.SettingsChanged(to, movedFrom: "p", moves.MoveTo(to, false, false), Now);
        moves.RefreshTokenEncrypted.ShouldBeNull();
    }

    [Fact]
    public void A_provider_change_of_login_settings_starts_its_accounts_afresh_keeping_a_refresh_only_chain()
    {
        var provider = Password();
        var canLogIn = With(provider);
        var refreshOnly = With(provider, password: false);

        canLogIn.ProviderChanged(provider, movedSettings: [], Now).ShouldBeEmpty();
        refreshOnly.ProviderChanged(provider, movedSettings: [], Now).ShouldBeEmpty();

        canLogIn.RefreshTokenEncrypted.ShouldBeNull();
        canLogIn.PasswordEncrypted.ShouldBe("pw");
        refreshOnly.RefreshTokenEncrypted.ShouldBe("refresh-1");
    }

    [Fact]
    public void A_provider_that_moved_takes_its_accounts_secrets_and_says_what_to_re_enter()
    {
        var provider = Password();
        var account = With(provider, clientSecret: true);

        var gone = account.ProviderChanged(provider, movedSettings: ["token_url"], Now);

        gone.ShouldBe(["password", "client_secret"]);
        account.RefreshTokenEncrypted.ShouldBeNull();
        account.AttentionReason.ShouldBe(AttentionReason.SecretsMissing);
        account.LastError.ShouldBe("secrets cleared: provider p's token_url changed; re-enter password, client_secret");
    }

    [Fact]
    public void A_provider_that_moved_keeps_its_client_secret_only_when_entered_again()
    {
        var provider = Password();
        provider.ClientSecretEncrypted = "old";
        provider.DestinationChanged(clientSecretReentered: true).ShouldBeEmpty();
        provider.ClientSecretEncrypted.ShouldBe("old");

        provider.DestinationChanged(clientSecretReentered: false).ShouldBe(["client_secret"]);
        provider.ClientSecretEncrypted.ShouldBeNull();
        provider.DestinationChanged(clientSecretReentered: false).ShouldBeEmpty(); // nothing left to clear
    }

    [Fact]
    public void The_providers_client_id_secret_and_scope_apply_where_the_account_sets_none()
    {
        var provider = Password();
        provider.ClientSecretEncrypted = "provider-secret";
        provider.Scope = "read";
        var account = With(provider);
        account.ClientIdOn(provider).ShouldBe("app");
        account.ClientSecretEncryptedOn(provider).ShouldBe("provider-secret");
        account.ScopeOn(provider).ShouldBe("read");

        account.ClientId = "own";
        account.ClientSecretEncrypted = "own-secret";
        account.Scope = "write";
        account.ClientIdOn(provider).ShouldBe("own");
        account.ClientSecretEncryptedOn(provider).ShouldBe("own-secret");
        account.ScopeOn(provider).ShouldBe("write");
    }
}
