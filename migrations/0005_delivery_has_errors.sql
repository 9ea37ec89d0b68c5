-- Whether a delivery has rows in delivery_errors (set by the statement that writes them), so
-- that an acknowledgement deleting its batch looks up the history of only those that have
-- some: a lookup per delivery cost PostgreSQL 0.45 µs of the 9.3 µs a deleted delivery
-- costs a claim-and-acknowledge at batch 500. The attempt count cannot tell: an operator's
-- retry starts it from zero again and keeps the history.
ALTER TABLE deliveries ADD COLUMN has_errors boolean NOT NULL DEFAULT false;
UPDATE deliveries d SET has_errors = true
WHERE EXISTS (
  SELECT 1 FROM delivery_errors x WHERE x.event_id = d.event_id AND x.consumer_group = d.consumer_group
);
