-- Workload identity (docs/consumers.md, "Workload identity"): issuers whose signed JWTs the broker trusts, and the
-- identities (issuer + subject, and claim conditions) bound to clients. A request carrying such a JWT is the client
-- whose binding matches it. Keys come from the issuer's JWKS (jwks_uri, or its OIDC discovery) or a static JWKS.
CREATE TABLE issuers (
    id                   uuid PRIMARY KEY,
    name                 varchar(100)  NOT NULL CONSTRAINT issuers_name_key UNIQUE,
    issuer               varchar(2000) NOT NULL CONSTRAINT issuers_issuer_key UNIQUE,
    audience             varchar(400)  NOT NULL,
    jwks_uri             varchar(2000),
    jwks                 text,
    algorithms           text[]        NOT NULL,
    token_type           varchar(100),
    max_lifetime_seconds integer       NOT NULL,
    created_at           timestamptz   NOT NULL,
    updated_at           timestamptz   NOT NULL
);

CREATE TABLE identity_bindings (
    id         uuid PRIMARY KEY,
    client_id  uuid         NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    issuer_id  uuid         NOT NULL REFERENCES issuers (id) ON DELETE CASCADE,
    subject    varchar(400) NOT NULL,
    claims     jsonb,
    created_at timestamptz  NOT NULL
);

CREATE INDEX ix_identity_bindings_client_id ON identity_bindings (client_id);
CREATE INDEX ix_identity_bindings_issuer_id ON identity_bindings (issuer_id);
