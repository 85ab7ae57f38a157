-- A provider may answer faster than the global Broker:Upstream:Timeout allows; its own, shorter timeout lets a
-- dead upstream fail fast. The global setting stays the cap, since it bounds how long a row lock is held.
ALTER TABLE providers ADD COLUMN timeout_seconds integer;
