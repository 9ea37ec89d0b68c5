-- Every failed attempt of a delivery, with its error, so a dead letter shows its whole
-- history (deliveries.last_error keeps only the latest). Written by the same statement
-- that records the failure; deleted with the delivery by retention. A retried delivery
-- counts its attempts from 1 again, so rows are keyed by their own id.
CREATE TABLE delivery_errors (
  id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id        bigint      NOT NULL,
  consumer_group  text        NOT NULL,
  attempt         integer     NOT NULL,
  error           text        NOT NULL,
  at              timestamptz NOT NULL
);

CREATE INDEX delivery_errors_delivery ON delivery_errors (event_id, consumer_group, id);
