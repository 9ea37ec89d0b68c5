/**
 * The SQL of the operations tools (dead letters, retry, skip, replay, status), over the
 * runtime's tables in the schema the runtime uses. Like the runtime's `Store`, it moves
 * rows and nothing else: times come in as parameters from Effect's `Clock`, and the only
 * identifier ever interpolated is the runtime's already validated schema name.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { StoreError } from "../runtime/Errors.js"
import { RuntimeConfig } from "../runtime/RuntimeConfig.js"
import { describeSqlError } from "../runtime/Store.js"

/** One consumer group's counts, as the status query returns them. */
export interface StatusRow {
  readonly consumer_group: string
  readonly pending: number
  readonly due: number
  readonly claimed: number
  readonly failed: number
  readonly skipped: number
  readonly delivered_last_hour: number
  readonly delivered_last_5_minutes: number
  readonly oldest_pending_at: Date | null
}

/** A failed delivery with its event's type. */
export interface DeadLetterRow {
  readonly event_id: string
  readonly consumer_group: string
  readonly type: string
  readonly routing_key: string | null
  readonly attempts: number
  readonly last_error: string | null
  readonly failed_at: Date
  readonly created_at: Date
}

/** A failed delivery with its event's payload. */
export interface DeadLetterDetailRow extends DeadLetterRow {
  readonly payload: unknown
  readonly metadata: Record<string, unknown> | null
}

/** One recorded attempt error. */
export interface AttemptErrorRow {
  readonly event_id: string
  readonly consumer_group: string
  readonly attempt: number
  readonly error: string
  readonly at: Date
}

/** Which failed deliveries a bulk operation acts on: explicit refs, or a filter within one group. */
export type Target =
  | {
    readonly _tag: "Refs"
    readonly refs: ReadonlyArray<{ readonly event_id: string; readonly consumer_group: string }>
  }
  | {
    readonly _tag: "Filter"
    readonly group: string
    readonly type: string | null
    /** Failed at or after this time. */
    readonly since: Date | null
    /** Only event ids above this (keyset cursor). */
    readonly afterId: string
    /** Only failures recorded at or before this time (so one run never picks up its own retries). */
    readonly until: Date
    readonly limit: number
  }

/** A consumer group's subscription. */
export interface SubscriptionRow {
  readonly event_type: string
  readonly routing_key: string | null
}

export interface OperationsStoreService {
  /** Counts per consumer group (registered or with deliveries); `now` decides what is due and the windows. */
  readonly status: (now: Date) => Effect.Effect<ReadonlyArray<StatusRow>, StoreError>
  /** Failed deliveries, most recently failed first. */
  readonly failed: (filter: {
    readonly group: string | null
    readonly type: string | null
    readonly limit: number
  }) => Effect.Effect<ReadonlyArray<DeadLetterRow>, StoreError>
  /** The failed deliveries of one event (optionally of one group), with the payload. */
  readonly failedDetail: (
    eventId: string,
    group: string | null
  ) => Effect.Effect<ReadonlyArray<DeadLetterDetailRow>, StoreError>
  /** Every recorded attempt error of the given deliveries, oldest first. */
  readonly attemptErrors: (
    refs: ReadonlyArray<{ readonly event_id: string; readonly consumer_group: string }>
  ) => Effect.Effect<ReadonlyArray<AttemptErrorRow>, StoreError>
  /**
   * Failed → pending, attempts 0, due at `now`, `last_error` cleared (the history stays in
   * `delivery_errors`), and notifies the groups. Returns the event ids it moved (for a
   * filter: in id order, at most `limit`).
   */
  readonly retry: (target: Target, now: Date) => Effect.Effect<ReadonlyArray<string>, StoreError>
  /** Failed → skipped (kept `last_error`); returns the event ids it moved. */
  readonly skip: (target: Target, now: Date) => Effect.Effect<ReadonlyArray<string>, StoreError>
  /** Whether a consumer group is registered, and its subscriptions. */
  readonly subscriptions: (group: string) => Effect.Effect<
    { readonly registered: boolean; readonly subscriptions: ReadonlyArray<SubscriptionRow> },
    StoreError
  >
  /** How many events of `type` created at or after `since` the group subscribes to (by routing key). */
  readonly replayCount: (options: {
    readonly group: string
    readonly type: string
    readonly since: Date
  }) => Effect.Effect<number, StoreError>
  /**
   * The next `limit` such events after `afterId`: inserts missing deliveries as pending and
   * resets delivered, skipped or failed ones to pending (pending and claimed ones are left
   * alone); notifies the group. Returns the last event id looked at (null: none left) and
   * how many deliveries it made pending.
   */
  readonly replayBatch: (options: {
    readonly group: string
    readonly type: string
    readonly since: Date
    readonly afterId: string
    readonly limit: number
    readonly now: Date
  }) => Effect.Effect<{ readonly lastId: string | null; readonly scanned: number; readonly queued: number }, StoreError>
  /**
   * Where a tail starts: the changefeed's cursor at the newest event every reader can
   * already see (`0/0` when none), and the current snapshot (`xmin:xmax:xip,…`), which
   * tells the events committed before now from those committed after.
   */
  readonly head: Effect.Effect<{ readonly tx: string; readonly id: string; readonly snapshot: string }, StoreError>
}

/** The operations tools' SQL, bound to the runtime's schema. */
export class OperationsStore extends Context.Tag("sluice/OperationsStore")<OperationsStore, OperationsStoreService>() {}

const fail = (operation: string) => (cause: SqlError) =>
  new StoreError({ operation, message: `${operation} failed: ${describeSqlError(cause)}`, cause })

/** Builds the store for the runtime's schema. */
export const make: Effect.Effect<OperationsStoreService, never, SqlClient.SqlClient | RuntimeConfig> = Effect.gen(
  function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const { channel, schema } = yield* RuntimeConfig
    const events = sql(`${schema}.events`)
    const deliveries = sql(`${schema}.deliveries`)
    const subscriptionsTable = sql(`${schema}.subscriptions`)
    const groups = sql(`${schema}.consumer_groups`)
    const deliveryErrors = sql(`${schema}.delivery_errors`)

    const status: OperationsStoreService["status"] = (now) => {
      const hourAgo = new Date(now.getTime() - 3_600_000)
      const fiveMinutesAgo = new Date(now.getTime() - 300_000)
      return sql<StatusRow>`
        WITH counts AS (
          SELECT consumer_group,
            count(*) FILTER (WHERE status = 'pending')::int AS pending,
            count(*) FILTER (WHERE status = 'pending' AND available_at <= ${now})::int AS due,
            count(*) FILTER (WHERE status = 'claimed')::int AS claimed,
            count(*) FILTER (WHERE status = 'failed')::int AS failed,
            count(*) FILTER (WHERE status = 'skipped')::int AS skipped,
            count(*) FILTER (WHERE status = 'delivered' AND updated_at >= ${hourAgo})::int AS delivered_last_hour,
            count(*) FILTER (WHERE status = 'delivered' AND updated_at >= ${fiveMinutesAgo})::int
              AS delivered_last_5_minutes,
            min(available_at) FILTER (WHERE status = 'pending') AS oldest_pending_at
          FROM ${deliveries} GROUP BY consumer_group
        )
        SELECT coalesce(c.consumer_group, g.name) AS consumer_group,
          coalesce(c.pending, 0) AS pending, coalesce(c.due, 0) AS due, coalesce(c.claimed, 0) AS claimed,
          coalesce(c.failed, 0) AS failed, coalesce(c.skipped, 0) AS skipped,
          coalesce(c.delivered_last_hour, 0) AS delivered_last_hour,
          coalesce(c.delivered_last_5_minutes, 0) AS delivered_last_5_minutes,
          c.oldest_pending_at
        FROM counts c FULL JOIN ${groups} g ON g.name = c.consumer_group
        ORDER BY 1`.pipe(Effect.mapError(fail("status")))
    }

    const failed: OperationsStoreService["failed"] = ({ group, limit, type }) =>
      sql<DeadLetterRow>`
        SELECT d.event_id::text AS event_id, d.consumer_group, e.type, e.routing_key, d.attempts, d.last_error,
          d.updated_at AS failed_at, e.created_at
        FROM ${deliveries} d JOIN ${events} e ON e.id = d.event_id
        WHERE d.status = 'failed'
          ${group === null ? sql`` : sql`AND d.consumer_group = ${group}`}
          ${type === null ? sql`` : sql`AND e.type = ${type}`}
        ORDER BY d.updated_at DESC, d.event_id DESC, d.consumer_group
        LIMIT ${limit}`.pipe(Effect.mapError(fail("failed")))

    const failedDetail: OperationsStoreService["failedDetail"] = (eventId, group) =>
      sql<DeadLetterDetailRow>`
        SELECT d.event_id::text AS event_id, d.consumer_group, e.type, e.routing_key, d.attempts, d.last_error,
          d.updated_at AS failed_at, e.created_at, e.payload, e.metadata
        FROM ${deliveries} d JOIN ${events} e ON e.id = d.event_id
        WHERE d.status = 'failed' AND d.event_id = ${eventId}::bigint
          ${group === null ? sql`` : sql`AND d.consumer_group = ${group}`}
        ORDER BY d.consumer_group`.pipe(Effect.mapError(fail("failedDetail")))

    const attemptErrors: OperationsStoreService["attemptErrors"] = (refs) =>
      refs.length === 0 ? Effect.succeed([]) : sql<AttemptErrorRow>`
        SELECT x.event_id::text AS event_id, x.consumer_group, x.attempt, x.error, x.at
        FROM ${deliveryErrors} x
        JOIN jsonb_to_recordset(${JSON.stringify(refs)}::jsonb) AS r(event_id bigint, consumer_group text)
          ON r.event_id = x.event_id AND r.consumer_group = x.consumer_group
        ORDER BY x.event_id, x.consumer_group, x.id`.pipe(Effect.mapError(fail("attemptErrors")))

    /**
     * The failed deliveries a target names, locked (others holding them are skipped), by
     * address: the statements then update them with `ctid = ANY(…)`. Joined with the locked
     * rows instead, an update of a few thousand made PostgreSQL read the table whole.
     */
    const selected = (target: Target) =>
      target._tag === "Refs"
        ? sql`
          SELECT d.ctid AS row FROM ${deliveries} d
          JOIN jsonb_to_recordset(${JSON.stringify(target.refs)}::jsonb) AS r(event_id bigint, consumer_group text)
            ON r.event_id = d.event_id AND r.consumer_group = d.consumer_group
          WHERE d.status = 'failed'
          FOR UPDATE OF d SKIP LOCKED`
        : sql`
          SELECT d.ctid AS row FROM ${deliveries} d
          ${target.type === null ? sql`` : sql`JOIN ${events} e ON e.id = d.event_id AND e.type = ${target.type}`}
          WHERE d.status = 'failed' AND d.consumer_group = ${target.group}
            AND d.event_id > ${target.afterId}::bigint AND d.updated_at <= ${target.until}
            ${target.since === null ? sql`` : sql`AND d.updated_at >= ${target.since}`}
          ORDER BY d.event_id
          LIMIT ${target.limit}
          FOR UPDATE OF d SKIP LOCKED`

    const retry: OperationsStoreService["retry"] = (target, now) =>
      sql<{ event_id: string }>`
        WITH target AS (${selected(target)}),
        moved AS (
          UPDATE ${deliveries} d
          SET status = 'pending', attempts = 0, available_at = ${now}, last_error = NULL,
              claimed_at = NULL, claim_token = NULL, updated_at = ${now}
          WHERE d.ctid = ANY(ARRAY(SELECT row FROM target))
          RETURNING d.event_id, d.consumer_group
        ), woken AS (
          SELECT pg_notify(${channel}, g.consumer_group) FROM (SELECT DISTINCT consumer_group FROM moved) g
        )
        SELECT event_id::text AS event_id FROM moved
        WHERE (SELECT count(*) FROM woken) >= 0
        ORDER BY moved.event_id`.pipe(
        Effect.map((rows) => rows.map((row) => row.event_id)),
        Effect.mapError(fail("retry"))
      )

    const skip: OperationsStoreService["skip"] = (target, now) =>
      sql<{ event_id: string }>`
        WITH target AS (${selected(target)}),
        moved AS (
          UPDATE ${deliveries} d
          SET status = 'skipped', updated_at = ${now}
          WHERE d.ctid = ANY(ARRAY(SELECT row FROM target))
          RETURNING d.event_id
        )
        SELECT event_id::text AS event_id FROM moved ORDER BY moved.event_id`.pipe(
        Effect.map((rows) => rows.map((row) => row.event_id)),
        Effect.mapError(fail("skip"))
      )

    const subscriptions: OperationsStoreService["subscriptions"] = (group) =>
      Effect.gen(function*() {
        const registered = yield* sql<{ name: string }>`SELECT name FROM ${groups} WHERE name = ${group}`
        const rows = yield* sql<SubscriptionRow>`
          SELECT event_type, routing_key FROM ${subscriptionsTable}
          WHERE consumer_group = ${group} ORDER BY event_type, routing_key`
        return { registered: registered.length > 0, subscriptions: rows }
      }).pipe(Effect.mapError(fail("subscriptions")))

    /** Events of a type since a time that one of the group's subscriptions takes. */
    const wanted = (group: string, type: string, since: Date) =>
      sql`
        e.type = ${type} AND e.created_at >= ${since}
        AND EXISTS (
          SELECT 1 FROM ${subscriptionsTable} s
          WHERE s.consumer_group = ${group} AND s.event_type = e.type
            AND (s.routing_key IS NULL OR s.routing_key = e.routing_key))`

    const replayCount: OperationsStoreService["replayCount"] = ({ group, since, type }) =>
      sql<{ n: number }>`SELECT count(*)::int AS n FROM ${events} e WHERE ${wanted(group, type, since)}`.pipe(
        Effect.map((rows) => rows[0]?.n ?? 0),
        Effect.mapError(fail("replayCount"))
      )

    const replayBatch: OperationsStoreService["replayBatch"] = ({ afterId, group, limit, now, since, type }) =>
      sql<{ last_id: string | null; scanned: number; queued: number }>`
        WITH batch AS (
          SELECT e.id, e.routing_key FROM ${events} e
          WHERE e.id > ${afterId}::bigint AND ${wanted(group, type, since)}
          ORDER BY e.id
          LIMIT ${limit}
        ), queued AS (
          -- routing_key as the runtime's emit writes it: the key an interleaving group takes turns by, else NULL
          INSERT INTO ${deliveries} AS d (event_id, consumer_group, status, routing_key, available_at, updated_at)
          SELECT b.id, ${group}, 'pending', CASE WHEN g.interleave THEN coalesce(b.routing_key, '') END, ${now}, ${now}
          FROM batch b LEFT JOIN ${groups} g ON g.name = ${group}
          ON CONFLICT (event_id, consumer_group) DO UPDATE
          SET status = 'pending', attempts = 0, available_at = excluded.available_at, last_error = NULL,
              claimed_at = NULL, claim_token = NULL, updated_at = excluded.updated_at, routing_key = excluded.routing_key
          WHERE d.status IN ('delivered', 'skipped', 'failed')
          RETURNING 1
        ), woken AS (
          SELECT pg_notify(${channel}, ${group}) WHERE EXISTS (SELECT 1 FROM queued)
        )
        SELECT (SELECT max(id)::text FROM batch) AS last_id,
          (SELECT count(*)::int FROM batch) AS scanned,
          (SELECT count(*)::int FROM queued) AS queued
        WHERE (SELECT count(*) FROM woken) >= 0`.pipe(
        Effect.map((rows) => ({
          lastId: rows[0]?.last_id ?? null,
          scanned: rows[0]?.scanned ?? 0,
          queued: rows[0]?.queued ?? 0
        })),
        Effect.mapError(fail("replay"))
      )

    const head: OperationsStoreService["head"] = sql<{ tx: string | null; id: string | null; snapshot: string }>`
      SELECT h.tx, h.id, pg_current_snapshot()::text AS snapshot
      FROM (SELECT 1) one LEFT JOIN LATERAL (
        SELECT e.tx::text AS tx, e.id::text AS id FROM ${events} e
        WHERE e.tx < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY e.tx DESC, e.id DESC
        LIMIT 1) h ON true`.pipe(
      Effect.map((rows) => ({ tx: rows[0]?.tx ?? "0", id: rows[0]?.id ?? "0", snapshot: rows[0]!.snapshot })),
      Effect.mapError(fail("head"))
    )

    return {
      status,
      failed,
      failedDetail,
      attemptErrors,
      retry,
      skip,
      subscriptions,
      replayCount,
      replayBatch,
      head
    }
  }
)

/** The store as a layer. */
export const layer: Layer.Layer<OperationsStore, never, SqlClient.SqlClient | RuntimeConfig> = Layer.effect(
  OperationsStore,
  make
)
