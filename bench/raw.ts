/**
 * The practical limit: sluice's data model (events, subscriptions, one delivery per event and
 * consumer group) written by hand with node-postgres and prepared statements.
 *
 * - emit: one statement inserts the events, their deliveries (joined from subscriptions) and
 *   notifies the groups;
 * - claim: one statement locks a batch with `FOR UPDATE SKIP LOCKED`, leases it under a
 *   token and returns it with the payloads of its events, reaching both by key
 *   (`= ANY(ARRAY(…))`: the same shape as sluice's claim, whose joins made PostgreSQL scan
 *   both tables on every claim);
 * - acknowledge: one statement marks the batch delivered, fenced by the token (profile
 *   `tuned`: deletes it, as sluice does with a retention of zero).
 *
 * One connection per claim loop, one LISTEN connection per process, a 1 s poll as fallback.
 */
import { randomUUID } from "node:crypto"
import pg from "pg"
import { runChild } from "./child.js"
import type { Consumer, Contender, Producer } from "./contender.js"
import type { Payload } from "./protocol.js"

const eventType = "bench.Tick"
const channel = "raw_bench"
const pollMs = 1_000
const pruneEveryMs = 1_000
const pruneLimit = 1_000

const schema = `
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

const emitSql = {
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

const claimSql = {
  name: "claim",
  text: `
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
    )
    SELECT c.event_id, e.payload
    FROM claimed c JOIN (SELECT id, payload FROM events WHERE id = ANY(ARRAY(SELECT event_id FROM claimed))) e
      ON e.id = c.event_id`
}

const ackDeleteSql = {
  name: "ack-delete",
  text: `
    DELETE FROM deliveries
    WHERE consumer_group = $1 AND event_id = ANY($3::bigint[]) AND claim_token = $2`
}

const ackSql = {
  name: "ack",
  text: `
    UPDATE deliveries
    SET status = 'delivered', claimed_at = NULL, claim_token = NULL, updated_at = $3
    WHERE consumer_group = $1 AND event_id = ANY($4::bigint[]) AND claim_token = $2 AND status = 'claimed'`
}

const pruneDeliveriesSql = {
  name: "prune-deliveries",
  text: `
    WITH old AS (
      SELECT ctid AS row FROM deliveries
      WHERE status = 'delivered' AND updated_at < $1
      ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED
    )
    DELETE FROM deliveries d WHERE d.ctid = ANY(ARRAY(SELECT row FROM old))`
}

const pruneEventsSql = {
  name: "prune-events",
  text: `
    WITH old AS (
      SELECT e.id FROM events e
      WHERE e.created_at < $1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id OFFSET 0)
      ORDER BY e.created_at LIMIT $2 FOR UPDATE SKIP LOCKED
    )
    DELETE FROM events e WHERE e.id = ANY(ARRAY(SELECT id FROM old))`
}

const connect = async (url: string) => {
  const client = new pg.Client({ connectionString: url, application_name: "raw-bench" })
  await client.connect()
  return client
}

/** Wakes the loops of a group on NOTIFY, or after the poll interval. */
const wakeups = () => {
  const waiting = new Map<string, Set<() => void>>()
  return {
    wake: (group: string) => {
      for (const resolve of waiting.get(group) ?? []) resolve()
      waiting.delete(group)
    },
    wakeAll: () => {
      for (const set of waiting.values()) for (const resolve of set) resolve()
      waiting.clear()
    },
    wait: (group: string, ms: number) =>
      new Promise<void>((resolve) => {
        const set = waiting.get(group) ?? new Set()
        const done = () => {
          clearTimeout(timer)
          set.delete(done)
          resolve()
        }
        const timer = setTimeout(done, ms)
        set.add(done)
        waiting.set(group, set)
      })
  }
}

export const raw: Contender = {
  name: "raw",
  install: async (url, _profile, groups) => {
    const client = await connect(url)
    await client.query(schema)
    await client.query(
      "INSERT INTO subscriptions (consumer_group, event_type) SELECT g, $2 FROM unnest($1::text[]) AS g",
      [groups, eventType]
    )
    await client.end()
  },
  producer: async (url): Promise<Producer> => {
    const client = await connect(url)
    const emit = async (batch: ReadonlyArray<Payload>) => {
      await client.query({ ...emitSql, values: [eventType, JSON.stringify(batch), new Date()] })
    }
    return { emitBatch: emit, emitOne: (payload) => emit([payload]), close: () => client.end() }
  },
  consumer: async (url, options): Promise<Consumer> => {
    const { batch, concurrency, groups, onHandle, profile, prune } = options
    const listener = await connect(url)
    const signals = wakeups()
    listener.on("notification", (message) => {
      if (message.payload !== undefined) signals.wake(message.payload)
    })
    await listener.query(`LISTEN ${channel}`)
    const loops = groups.flatMap((group) => Array.from({ length: concurrency }, () => group))
    const clients = await Promise.all(loops.map(() => connect(url)))
    const pruner = prune ? await connect(url) : undefined
    let stopping = false
    const running: Array<Promise<void>> = []

    const loop = async (client: pg.Client, group: string) => {
      while (!stopping) {
        const token = randomUUID()
        const claimed = await client.query<{ event_id: string; payload: Payload }>({
          ...claimSql,
          values: [group, new Date(), batch, token]
        })
        if (claimed.rows.length === 0) {
          await signals.wait(group, pollMs)
          continue
        }
        onHandle(claimed.rows.map((row) => row.payload))
        const ids = claimed.rows.map((row) => row.event_id)
        await client.query(
          profile === "tuned"
            ? { ...ackDeleteSql, values: [group, token, ids] }
            : { ...ackSql, values: [group, token, new Date(), ids] }
        )
      }
    }

    const pruneLoop = async (client: pg.Client) => {
      while (!stopping) {
        for (const statement of [pruneDeliveriesSql, pruneEventsSql]) {
          for (;;) {
            const result = await client.query({ ...statement, values: [new Date(Date.now() - 1), pruneLimit] })
            if ((result.rowCount ?? 0) < pruneLimit) break
          }
        }
        await signals.wait("", pruneEveryMs)
      }
    }

    return {
      start: async () => {
        loops.forEach((group, i) => running.push(loop(clients[i]!, group)))
        if (pruner !== undefined) running.push(pruneLoop(pruner))
      },
      stop: async () => {
        stopping = true
        signals.wakeAll()
        await Promise.all(running)
        await Promise.all([...clients, listener, ...(pruner === undefined ? [] : [pruner])].map((c) => c.end()))
      }
    }
  }
}

await runChild(raw)
