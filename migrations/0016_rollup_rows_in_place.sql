-- A served-token rollup row is rewritten once per window (1 s) while its period is open. Its `at` moved with each
-- write (to the last fetch), and `count` sat in the time index's INCLUDE: every rewrite changed an indexed column,
-- so PostgreSQL could not update it in place (a HOT update) and added an entry to each of the table's seven indexes
-- every second, for every open row: 3.5 KB per row after 5 s of fetches over 10,000 accounts. Now a rollup's `at` is fixed when its row is first written (the first fetch it then held), the last
-- fetch's time moves to `last_at`, which no index holds, and `count` leaves the time index: a merge changes only
-- unindexed columns. An in-place update needs room on the row's own page for its next version, and one merge
-- rewrites every row of its window at once, which sit together on the pages the previous merge filled: so the table
-- fills its pages only half. Measured with every row rewritten each second (10,000 accounts): at fillfactor 90, 21 %
-- of the updates were in place and the trail grew 2.5 KB per row; at 50, all of them and 1.35 KB. Rows that are
-- never rewritten pay ~300 bytes more of table each. A fixed `at` also keeps a row's place in the listing, which
-- pages by (at, id), while its period is open.
ALTER TABLE audit_events ADD COLUMN last_at timestamptz;
ALTER TABLE audit_events SET (fillfactor = 50);

-- The usage report now reads count from the table (an index scan of its range instead of an index-only one).
DROP INDEX ix_audit_events_at;
CREATE INDEX ix_audit_events_at ON audit_events (at, id) INCLUDE (action, client_name, account_name, provider_name);

-- The trigger as in 0013, with last_at: a rollup row's count may grow, first_at may move earlier, last_at later.
-- `at` may still move later, as instances of the previous version move it during a rolling upgrade.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('broker.audit_retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND current_setting('broker.audit_rollup', true) = 'on'
       AND OLD.period_start IS NOT NULL
       AND NEW.count >= OLD.count AND NEW.at >= OLD.at AND NEW.first_at <= OLD.first_at
       AND (NEW.last_at IS NOT DISTINCT FROM OLD.last_at OR NEW.last_at >= coalesce(OLD.last_at, OLD.at))
       AND (to_jsonb(NEW) - ARRAY['count', 'at', 'first_at', 'last_at'])
         = (to_jsonb(OLD) - ARRAY['count', 'at', 'first_at', 'last_at']) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Old events are removed only by the retention job.';
END;
$$;
