/**
 * raw's schema and statements, shared by its node-postgres loop ({@link ./raw.ts}) and its
 * Effect floor ({@link ./raw-effect.ts}).
 */
export const eventType = "bench.Tick"
export const channel = "raw_bench"
export const pollMs = 1_000
export const pruneEveryMs = 1_000
export const pruneLimit = 1_000

export const schema = `
CREATE TABLE events (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  type         text        NOT NULL,
  payload      jsonb       NOT NULL,
  created_at   timestamptz NOT NULL,
  available_at timestamptz NOT NULL
);
CREATE INDEX events_created_at ON events (created_at);
CREATE TABLE subscriptions (
  consumer_group text NOT NULL,
  event_type     text NOT NULL,
  PRIMARY KEY (consumer_group, event_type)
);
CREATE INDEX subscriptions_event_type ON subscriptions (event_type);
CREATE TABLE deliveries (
  event_id       bigint      NOT NULL,
  consumer_group text        NOT NULL,
  status         text        NOT NULL,
  attempts       integer     NOT NULL DEFAULT 0,
  available_at   timestamptz NOT NULL,
  claimed_at     timestamptz,
  claim_token    uuid,
  updated_at     timestamptz NOT NULL,
  PRIMARY KEY (event_id, consumer_group)
) WITH (fillfactor = 80);
CREATE INDEX deliveries_pending ON deliveries (consumer_group, available_at, event_id) WHERE status = 'pending';
CREATE INDEX deliveries_settled ON deliveries (updated_at) WHERE status = 'delivered';
`

export const emitSql = {
  name: "emit",
  text: `
    WITH ev AS (
      INSERT INTO events (type, payload, created_at, available_at)
      SELECT $1, p, $3, $3 FROM jsonb_array_elements($2::jsonb) AS p
      RETURNING id, type, available_at
    ), d AS (
      INSERT INTO deliveries (event_id, consumer_group, status, available_at, updated_at)
      SELECT ev.id, s.consumer_group, 'pending', ev.available_at, $3
      FROM ev JOIN subscriptions s ON s.event_type = ev.type
      RETURNING consumer_group
    )
    SELECT pg_notify('${channel}', g.consumer_group) FROM (SELECT DISTINCT consumer_group FROM d) g`
}

/** Locks a batch of `$1`'s due deliveries (`$3` of them, due at `$2`) and leases it under the token `$4`. */
const claiming = `
    WITH locked AS (
      SELECT event_id FROM deliveries
      WHERE consumer_group = $1 AND status = 'pending' AND available_at <= $2
      ORDER BY available_at, event_id
      LIMIT $3
      FOR UPDATE SKIP LOCKED
    ), claimed AS (
      UPDATE deliveries d
      SET status = 'claimed', claimed_at = $2, claim_token = $4, attempts = d.attempts + 1, updated_at = $2
      WHERE d.consumer_group = $1 AND d.event_id = ANY(ARRAY(SELECT event_id FROM locked))
      RETURNING d.event_id
    )`

/** The claimed events, by key. */
const claimedEvents = `(SELECT id, payload FROM events WHERE id = ANY(ARRAY(SELECT event_id FROM claimed))) e`

export const claimSql = {
  name: "claim",
  text: `${claiming}
    SELECT c.event_id, e.payload
    FROM claimed c JOIN ${claimedEvents} ON e.id = c.event_id`
}

/** The claim returning the batch as one JSON array of `[event_id, payload]`, as sluice's does. */
export const claimBatchSql = {
  name: "claim-batch",
  text: `${claiming}
    SELECT json_agg(json_build_array(c.event_id::text, e.payload)) AS batch
    FROM claimed c JOIN ${claimedEvents} ON e.id = c.event_id`
}

export const ackDeleteSql = {
  name: "ack-delete",
  text: `
    DELETE FROM deliveries
    WHERE consumer_group = $1 AND event_id = ANY($3::bigint[]) AND claim_token = $2`
}

export const ackSql = {
  name: "ack",
  text: `
    UPDATE deliveries
    SET status = 'delivered', claimed_at = NULL, claim_token = NULL, updated_at = $3
    WHERE consumer_group = $1 AND event_id = ANY($4::bigint[]) AND claim_token = $2 AND status = 'claimed'`
}

export const pruneDeliveriesSql = {
  name: "prune-deliveries",
  text: `
    WITH old AS (
      SELECT ctid AS row FROM deliveries
      WHERE status = 'delivered' AND updated_at < $1
      ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED
    )
    DELETE FROM deliveries d WHERE d.ctid = ANY(ARRAY(SELECT row FROM old))`
}

export const pruneEventsSql = {
  name: "prune-events",
  text: `
    WITH old AS (
      SELECT e.id FROM events e
      WHERE e.created_at < $1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id OFFSET 0)
      ORDER BY e.created_at LIMIT $2 FOR UPDATE SKIP LOCKED
    )
    DELETE FROM events e WHERE e.id = ANY(ARRAY(SELECT id FROM old))`
}
