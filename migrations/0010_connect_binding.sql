-- A connect attempt is bound to the account and provider as they were when it was made (docs/providers.md,
-- "Connecting in a browser"): the SHA-256 of their settings. A callback whose account or provider changed since ends
-- on "this link is no longer valid". Attempts made before this column existed have none, and are ended the same way.
ALTER TABLE connect_attempts ADD COLUMN binding bytea;
