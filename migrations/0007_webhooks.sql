-- Webhooks: where admins want to hear that an account needs a person (docs/webhooks.md). The secret signs each
-- delivery; it is stored encrypted like every other secret.
CREATE TABLE webhooks (
    id               uuid          PRIMARY KEY,
    url              varchar(2000) NOT NULL,
    secret_encrypted text          NOT NULL,
    events           text[]        NOT NULL,
    description      varchar(500),
    created_at       timestamptz   NOT NULL,
    updated_at       timestamptz   NOT NULL
);

-- The outbox: one row per (event, webhook), written in the transaction that made the event, delivered (and
-- retried) by every instance's dispatcher, which claims due rows with FOR UPDATE SKIP LOCKED. The unique key makes
-- an event that several instances find (an expiring refresh token) one delivery.
CREATE TABLE webhook_deliveries (
    id               uuid         PRIMARY KEY,
    webhook_id       uuid         NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         uuid         NOT NULL,
    event            varchar(64)  NOT NULL,
    payload          jsonb        NOT NULL,
    status           varchar(20)  NOT NULL DEFAULT 'pending',
    attempts         integer      NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz  NOT NULL,
    last_status_code integer,
    last_error       varchar(500),
    created_at       timestamptz  NOT NULL,
    delivered_at     timestamptz,
    CONSTRAINT webhook_deliveries_event_key UNIQUE (webhook_id, event_id)
);
CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX ix_webhook_deliveries_webhook_id ON webhook_deliveries (webhook_id, id);
