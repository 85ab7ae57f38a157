-- Audit trail: append-only, a keyed hash for correlating served tokens, and indexes that fit the reports.

-- Served tokens are correlated by HMAC-SHA256 (hex) under a key that is not in the database, never stored
-- themselves: whoever holds a leaked token can ask the broker for its HMAC and find who received it.
ALTER TABLE audit_events ADD COLUMN token_hmac varchar(64);

-- Append-only. The broker may well connect as the table's owner (one role for everything is common), and
-- REVOKE does not bind an owner, so a trigger refuses every UPDATE, DELETE and TRUNCATE. The one exception
-- is the retention job: it deletes old rows in a transaction that has run
--     SET LOCAL broker.audit_retention = 'on'
-- and nothing else in the broker sets that setting. This guards the trail against the application's own
-- mistakes and against a role without DDL rights; a superuser or the owner can still drop the trigger, so
-- shipping the trail elsewhere remains the answer to a hostile DBA (docs/audit.md).
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('broker.audit_retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Old events are removed only by the retention job.';
END;
$$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- For deployments that give the broker a role of its own (not the owner): no one gets to change rows.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC;

-- Indexes for GET /admin/audit (newest first, keyset on (at, id), optional filters) and the usage report
-- (a time range, grouped by client, account, provider or day, counting actions). The time index replaces
-- the one of 0001: it serves the unfiltered listing read backwards, and it covers every column the usage
-- report reads, so the report is an index-only scan of its range (the table is append-only, so its pages
-- are soon all-visible). Filters by client and account use the indexes of 0001; this adds one for action.
DROP INDEX ix_audit_events_at;
CREATE INDEX ix_audit_events_at ON audit_events (at, id) INCLUDE (action, client_name, account_name, provider_name);
CREATE INDEX ix_audit_events_action_at ON audit_events (action, at, id);
