-- Providers of the oauth2-authorization-code dialect: where a person consents, and extra parameters of that request.
ALTER TABLE providers ADD COLUMN authorization_url varchar(2000);
ALTER TABLE providers ADD COLUMN authorization_parameters jsonb;

-- One attempt to connect an account in a browser. The state is stored as its SHA-256 only (it authenticates the
-- callback); the PKCE verifier is encrypted. An attempt is used at most once: the callback marks it used with one
-- UPDATE ... WHERE used_at IS NULL, which no two instances can both win.
CREATE TABLE connect_attempts (
    state_hash         bytea         PRIMARY KEY,
    account_id         uuid          NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    provider_id        uuid          NOT NULL,
    verifier_encrypted text          NOT NULL,
    redirect_uri       varchar(2000) NOT NULL,
    created_at         timestamptz   NOT NULL,
    expires_at         timestamptz   NOT NULL,
    used_at            timestamptz
);
CREATE INDEX ix_connect_attempts_account_id ON connect_attempts (account_id);
CREATE INDEX ix_connect_attempts_expires_at ON connect_attempts (expires_at);
