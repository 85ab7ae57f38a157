-- Served tokens are written as rollups: one row per (client, account, token hmac, address, hit/miss) and window
-- holds how many fetches it stands for and when the first and the last of them happened (`at` is the last).
-- Every other row stands for one event: count 1, first_at null. Adding columns with a constant default does not
-- rewrite the table.
ALTER TABLE audit_events
    ADD COLUMN count    integer NOT NULL DEFAULT 1,
    ADD COLUMN first_at timestamptz;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_count_positive CHECK (count > 0);

-- Rows of refused requests (auth.failed, request.rate_limited) were counted per minute with the count as the
-- first word of their detail ("20 request(s) from 14:05:01 to ..."). Their count moves into the column, so every
-- report sums one column. The append-only trigger is set aside for this one statement, inside this migration's
-- transaction, by the table's owner: nothing else can do so.
ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete;
UPDATE audit_events
   SET count = substring(detail from '^([0-9]{1,9}) request')::integer
 WHERE action IN ('auth.failed', 'request.rate_limited')
   AND substring(detail from '^([0-9]{1,9}) request')::integer > 0;
ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_or_delete;

-- The usage report sums count: the time index covers it too, so the report stays an index-only scan.
DROP INDEX ix_audit_events_at;
CREATE INDEX ix_audit_events_at ON audit_events (at, id) INCLUDE (action, client_name, account_name, provider_name, count);

-- Who was handed token T: the lookup by hmac no longer scans the time index.
CREATE INDEX ix_audit_events_token_hmac ON audit_events (token_hmac, at, id) WHERE token_hmac IS NOT NULL;
