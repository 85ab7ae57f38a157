-- The audit trail names how each caller authenticated: key:<key prefix>, jwt:<issuer> <subject> or
-- cert:<thumbprint> (never a secret). A served-token rollup is one row per identity too, so the period's merge key
-- gains it: a client that used its key and its workload identity in one minute has a row for each.
ALTER TABLE audit_events ADD COLUMN identity varchar(300);

-- A rotated-out key is told apart from the new one in the trail while it is still accepted.
ALTER TABLE clients ADD COLUMN previous_key_prefix varchar(16);

-- The merge's conflict target, now with the identity. Instances of the previous version name the old target in their
-- merge and cannot write served-token rollups once this has run: they set them aside as counted audit.rejected rows
-- until they are replaced (docs/operations.md, "Upgrading").
DROP INDEX ux_audit_events_served_period;
CREATE UNIQUE INDEX ux_audit_events_served_period
    ON audit_events (period_start, client_id, account_id, token_hmac, outcome, coalesce(remote_ip, ''), coalesce(identity, ''))
    WHERE period_start IS NOT NULL;
