using Broker.Domain;

namespace Broker.UnitTests.Domain;

public sealed class CredentialRulesTests
{
    private static readonly CredentialPresence Nothing = new(false, false, false, false, false);

    [Theory]
    [InlineData(Dialect.SlideRule, new string[0])]
    [InlineData(Dialect.SimpleJwt, new string[0])]
    [InlineData(Dialect.Keycloak, new string[0])]
    [InlineData(Dialect.OAuth2Password, new[] { "client_id" })] // its refresh sends the client id
    [InlineData(Dialect.OAuth2ClientCredentials, new[] { "client_id", "client_secret" })] // no refresh: everything it logs in with
    public void A_dialect_that_refreshes_requires_only_what_its_refresh_sends(Dialect dialect, string[] required) =>
        CredentialRules.Required(dialect, Nothing).ShouldBe(required);

    [Fact]
    public void A_password_entered_requires_the_rest_of_what_a_login_needs()
    {
        var passwordOnly = new CredentialPresence(false, true, false, false, false);

        CredentialRules.RequiredOnWrite(Dialect.SlideRule, passwordOnly, entered: passwordOnly).ShouldBe(["username", "org_name"]);
        CredentialRules.RequiredOnWrite(Dialect.SimpleJwt, passwordOnly with { Username = true }, entered: passwordOnly).ShouldBeEmpty();
    }

    [Fact]
    public void No_password_entered_is_a_refresh_only_account_whatever_names_it()
    {
        var named = new CredentialPresence(true, false, true, false, false);

        CredentialRules.RequiredOnWrite(Dialect.SlideRule, Nothing, entered: Nothing).ShouldBeEmpty();
        CredentialRules.RequiredOnWrite(Dialect.SlideRule, named, entered: named).ShouldBeEmpty();
    }

    [Fact]
    public void An_account_without_a_password_cannot_log_in_and_one_with_all_its_credentials_can()
    {
        var provider = new Provider { Name = "p", TokenUrl = "https://idp.example/o/token/", Dialect = Dialect.OAuth2Password, ClientId = "client" };
        var account = new Account { Name = "a", Username = "alice" };

        CredentialRules.CanLogIn(account, provider).ShouldBeFalse();

        account.PasswordEncrypted = "encrypted";
        CredentialRules.CanLogIn(account, provider).ShouldBeTrue();
    }
}
