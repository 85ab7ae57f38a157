-- accounts.last_used_at was never written: which accounts are in use is kept in each instance's memory (the
-- ahead-of-time refresher's list), and the audit trail says when a token was served.
ALTER TABLE accounts DROP COLUMN last_used_at;
