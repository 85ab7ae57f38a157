-- Accounts that live on a refresh token (docs/architecture.md, "Crash safety"; docs/providers.md, "Refresh-only accounts").

-- Why an account is blocked, as a word a program can act on; last_error keeps the words for people.
ALTER TABLE accounts ADD COLUMN attention_reason varchar(40);
UPDATE accounts SET attention_reason = CASE
        WHEN state = 'inactive' THEN 'inactive'
        WHEN last_error LIKE 'secrets cleared%' OR last_error LIKE 'no % stored%' THEN 'secrets_missing'
        ELSE 'credentials_rejected'
    END
    WHERE state <> 'active';

-- How long the provider still accepts a refresh token it has just rotated (Okta, Auth0, Keycloak, DOT grace).
ALTER TABLE providers ADD COLUMN refresh_reuse_grace_seconds integer;

-- A refresh under way: written and committed (on a connection of its own) before the refresh is sent, while the
-- sender holds the account's row lock; deleted in the transaction that stores the answer. A row found by the next
-- holder of the lock is a refresh whose answer was lost. Not a column of accounts: the row is locked FOR UPDATE by
-- the sender, so no other connection could write it; and no foreign key, whose check would wait for that lock too.
CREATE TABLE refresh_attempts (
    account_id   uuid PRIMARY KEY,
    started_at   timestamptz NOT NULL,
    token_sha256 char(64) NOT NULL
);
