-- Served-token rollups merge into one row per period: every instance's one-second windows add their counts to the
-- row of their (period, client, account, token hmac, address, hit/miss), so the trail grows with the distinct facts
-- of each period, not with accounts × seconds × instances. period_start is null for every other row.
ALTER TABLE audit_events ADD COLUMN period_start timestamptz;

-- The merge's conflict target. Rows of earlier versions have no period and stay as they are; the index covers only
-- rows with one, so it stays as small as the rollups themselves.
CREATE UNIQUE INDEX ux_audit_events_served_period
    ON audit_events (period_start, client_id, account_id, token_hmac, outcome, coalesce(remote_ip, ''))
    WHERE period_start IS NOT NULL;

-- The trail stays append-only but for this one change: under the transaction-local setting broker.audit_rollup
-- (set only by the audit writer's merge), a rollup row's count may grow and its first and last times widen, and
-- nothing else of the row may change. Deletes still need the retention job's setting; truncation is never allowed.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('broker.audit_retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND current_setting('broker.audit_rollup', true) = 'on'
       AND OLD.period_start IS NOT NULL
       AND NEW.count >= OLD.count AND NEW.at >= OLD.at AND NEW.first_at <= OLD.first_at
       AND (to_jsonb(NEW) - ARRAY['count', 'at', 'first_at']) = (to_jsonb(OLD) - ARRAY['count', 'at', 'first_at']) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Old events are removed only by the retention job.';
END;
$$;
