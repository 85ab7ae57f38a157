-- The change feed (docs/architecture.md, "Keeping instances' caches current"): every change another instance must
-- hear of (a client, its key or grants; an account's tokens; webhook events to send) is a row here, written after or
-- with the change. Every instance polls it, so it works through any connection pooler; LISTEN/NOTIFY is only a hint
-- that makes the poll come sooner.
--
-- A reader does not page by id: ids are taken when a row is inserted, not when it commits, so a row with a smaller id
-- can become visible after a larger one. It pages by the writing transaction's id instead: every transaction older
-- than a snapshot's xmin has ended, so a reader that re-reads "xid >= the xmin of its last read" (and skips ids it
-- has applied) cannot miss a row, however commits interleave.
CREATE TABLE changes (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid        xid8        NOT NULL DEFAULT pg_current_xact_id(),
    kind       varchar(32) NOT NULL,
    subject    varchar(200) NOT NULL DEFAULT '',
    origin     varchar(32) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX changes_xid ON changes (xid);
CREATE INDEX changes_created_at ON changes (created_at);
