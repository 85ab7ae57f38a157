-- Providers: one upstream token endpoint and how to talk to it.
CREATE TABLE providers (
    id                               uuid          PRIMARY KEY,
    name                             varchar(100)  NOT NULL,
    dialect                          varchar(40)   NOT NULL,
    token_url                        varchar(2000) NOT NULL,
    refresh_url                      varchar(2000),
    client_id                        varchar(200),
    client_secret_encrypted          text,
    client_authentication            varchar(10)   NOT NULL DEFAULT 'basic',
    refresh_token_field              varchar(100),
    scope                            varchar(1000),
    default_access_lifetime_seconds  integer       NOT NULL,
    default_refresh_lifetime_seconds integer,
    created_at                       timestamptz   NOT NULL,
    updated_at                       timestamptz   NOT NULL,
    CONSTRAINT providers_name_key UNIQUE (name)
);

-- Accounts: the credentials of one upstream user, and the one token set the broker holds for it.
-- The row is also the lock: SELECT ... FOR UPDATE on it serialises every upstream call for the account.
CREATE TABLE accounts (
    id                      uuid          PRIMARY KEY,
    name                    varchar(100)  NOT NULL,
    provider_id             uuid          NOT NULL REFERENCES providers (id) ON DELETE RESTRICT,
    username                varchar(200),
    password_encrypted      text,
    org_name                varchar(200),
    client_id               varchar(200),
    client_secret_encrypted text,
    scope                   varchar(1000),
    state                   varchar(20)   NOT NULL DEFAULT 'active',
    last_error              varchar(500),
    access_token_encrypted  text,
    token_type              varchar(40),
    access_expires_at       timestamptz,
    refresh_token_encrypted text,
    refresh_expires_at      timestamptz,
    tokens_obtained_at      timestamptz,
    last_login_at           timestamptz,
    last_refreshed_at       timestamptz,
    last_used_at            timestamptz,
    created_at              timestamptz   NOT NULL,
    updated_at              timestamptz   NOT NULL,
    CONSTRAINT accounts_name_key UNIQUE (name)
);
CREATE INDEX ix_accounts_provider_id ON accounts (provider_id);

-- Clients: the services (consumers) and people (admins) that hold an API key. Only the key's SHA-256 is kept.
CREATE TABLE clients (
    id                      uuid         PRIMARY KEY,
    name                    varchar(100) NOT NULL,
    role                    varchar(20)  NOT NULL,
    key_hash                bytea        NOT NULL,
    key_prefix              varchar(16)  NOT NULL,
    previous_key_hash       bytea,
    previous_key_expires_at timestamptz,
    revoked_at              timestamptz,
    created_at              timestamptz  NOT NULL,
    updated_at              timestamptz  NOT NULL,
    CONSTRAINT clients_name_key UNIQUE (name),
    CONSTRAINT clients_key_hash_key UNIQUE (key_hash)
);
CREATE INDEX ix_clients_previous_key_hash ON clients (previous_key_hash) WHERE previous_key_hash IS NOT NULL;

-- A grant lets a client fetch tokens of one account, or of every account of one provider.
CREATE TABLE client_grants (
    id          uuid PRIMARY KEY,
    client_id   uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    account_id  uuid REFERENCES accounts (id) ON DELETE CASCADE,
    provider_id uuid REFERENCES providers (id) ON DELETE CASCADE,
    CONSTRAINT client_grants_one_target CHECK ((account_id IS NULL) <> (provider_id IS NULL))
);
CREATE UNIQUE INDEX ux_client_grants_client_account ON client_grants (client_id, account_id) WHERE account_id IS NOT NULL;
CREATE UNIQUE INDEX ux_client_grants_client_provider ON client_grants (client_id, provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX ix_client_grants_account_id ON client_grants (account_id);
CREATE INDEX ix_client_grants_provider_id ON client_grants (provider_id);

-- The Data Protection key ring, shared by every instance. Each key's XML is encrypted with the
-- key-encryption key, which is not in the database.
CREATE TABLE data_protection_keys (
    id            serial       PRIMARY KEY,
    friendly_name varchar(200),
    xml           text         NOT NULL
);

-- Append-only audit trail. No secret or token is ever written here.
CREATE TABLE audit_events (
    id              bigserial    PRIMARY KEY,
    at              timestamptz  NOT NULL,
    action          varchar(40)  NOT NULL,
    outcome         varchar(40)  NOT NULL,
    client_id       uuid,
    client_name     varchar(100),
    account_id      uuid,
    account_name    varchar(100),
    provider_name   varchar(100),
    upstream_status integer,
    upstream_ms     integer,
    detail          varchar(500),
    request_id      varchar(100),
    remote_ip       varchar(64)
);
CREATE INDEX ix_audit_events_at ON audit_events (at DESC, id DESC);
CREATE INDEX ix_audit_events_account_at ON audit_events (account_name, at DESC, id DESC);
CREATE INDEX ix_audit_events_client_at ON audit_events (client_name, at DESC, id DESC);
