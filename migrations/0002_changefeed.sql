-- The transaction that wrote each event, so a changefeed can read in commit-safe order:
-- every event whose writer's xid is below the oldest running transaction's xmin is
-- committed (or rolled back), and no later commit can get an xid below it.
ALTER TABLE events ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_tx_id ON events (tx, id);
