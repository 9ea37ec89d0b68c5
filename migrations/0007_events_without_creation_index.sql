-- Retention walks the events by id (the primary key) instead of by creation time: one index
-- fewer to update on every emit (13 ms of a 20,000-event emit's 160 ms of PostgreSQL).
DROP INDEX events_created_at;
