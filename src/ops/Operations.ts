/**
 * Operating a running sluice: what each consumer group is doing, its dead letters (failed
 * deliveries) with every attempt's error, and the hand tools: retry, skip, replay past
 * events to a group, prune by hand, and follow new events. Shared by the `sluice`
 * command-line tool and the dashboard.
 *
 * Every change is an ordinary statement on the runtime's tables, safe beside running
 * workers: rows a worker holds are skipped, and retried or replayed deliveries wake the
 * group's idle workers through the runtime's notification channel.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function*() {
 *   const ops = yield* Operations
 *   const dead = yield* ops.failed({ group: "index" })
 *   yield* ops.retry(dead.map((d) => ({ eventId: d.eventId, group: d.group })))
 * }).pipe(Effect.provide(Operations.layer))
 * ```
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { StoreError } from "../runtime/Errors.js"
import * as Retention from "../runtime/Retention.js"
import type { RuntimeConfig } from "../runtime/RuntimeConfig.js"
import { type ChangeRow, Store } from "../runtime/Store.js"
import * as OperationsStore from "./OperationsStore.js"

/** One delivery: an event for a consumer group. `eventId` is a bigint as text. */
export interface DeliveryRef {
  readonly eventId: string
  readonly group: string
}

/** What a consumer group is doing now. */
export interface GroupStatus {
  readonly group: string
  readonly pending: number
  /** Pending and due now. */
  readonly due: number
  readonly claimed: number
  readonly failed: number
  readonly skipped: number
  readonly deliveredLastHour: number
  /** How long the oldest pending delivery has been due (0 if it is not due yet); null when none is pending. */
  readonly oldestPendingAgeMs: number | null
  /** Delivered in the last 5 minutes, per minute. */
  readonly throughputPerMinute: number
}

/** A failed delivery (a dead letter). `failedAt` is when the failure was recorded. */
export interface DeadLetter {
  readonly eventId: string
  readonly group: string
  readonly type: string
  readonly routingKey: string | null
  readonly attempts: number
  readonly lastError: string | null
  readonly failedAt: Date
  readonly createdAt: Date
}

/** One failed attempt. Attempts count from 1 again after a retry. */
export interface AttemptError {
  readonly attempt: number
  readonly error: string
  readonly at: Date
}

/** A dead letter with its event and every recorded attempt error, oldest first. */
export interface DeadLetterDetail extends DeadLetter {
  readonly payload: unknown
  readonly metadata: Record<string, unknown>
  readonly errors: ReadonlyArray<AttemptError>
}

/** The dead letters of one group, optionally of one event type and failed at or after `since`. */
export interface Selection {
  readonly group: string
  readonly type?: string | undefined
  readonly since?: Date | undefined
}

export interface OperationsService {
  /** Every consumer group (registered, or with deliveries), by name. */
  readonly status: Effect.Effect<ReadonlyArray<GroupStatus>, StoreError>
  /** Dead letters, most recently failed first (default limit 100). */
  readonly failed: (filter: {
    readonly group?: string | undefined
    readonly type?: string | undefined
    readonly limit?: number | undefined
  }) => Effect.Effect<ReadonlyArray<DeadLetter>, StoreError>
  /** One event's dead letters (one per failed group, or only `group`'s); empty when there are none. */
  readonly failedDetail: (eventId: string, group?: string) => Effect.Effect<ReadonlyArray<DeadLetterDetail>, StoreError>
  /**
   * Failed → pending, attempts reset to 0, due now, `last_error` cleared (every attempt's
   * error stays in the history); wakes the groups' workers. Returns how many it moved;
   * deliveries that are not failed are left alone.
   */
  readonly retry: (target: ReadonlyArray<DeliveryRef> | Selection) => Effect.Effect<number, StoreError>
  /** Failed → skipped (pruned later by retention like a delivered one); returns how many. */
  readonly skip: (target: ReadonlyArray<DeliveryRef> | Selection) => Effect.Effect<number, StoreError>
  /**
   * Delivers past events of `type` created at or after `since` to `group` again, in
   * batches by event id: those it never got (e.g. emitted before the group first
   * registered) become pending, and those it already settled go back to pending. Only
   * events the group subscribes to (type and routing key); pending and claimed
   * deliveries are left alone. `onProgress(scanned, total)` after each batch. Returns
   * how many deliveries it made pending. Fails when the group is not registered or does
   * not subscribe to `type`.
   */
  readonly replay: (
    options: { readonly group: string; readonly type: string; readonly since: Date; readonly batchSize?: number },
    onProgress?: (done: number, total: number) => Effect.Effect<void>
  ) => Effect.Effect<number, StoreError>
  /**
   * The runtime's retention by hand: deletes delivered and skipped deliveries (with their
   * attempt errors) and unneeded events older than `olderThanMs`, in batches.
   * `onProgress(deletedSoFar)` after each batch; returns the rows deleted.
   */
  readonly prune: (
    options: { readonly olderThanMs: number; readonly batchSize?: number },
    onProgress?: (deleted: number) => Effect.Effect<void>
  ) => Effect.Effect<number, StoreError>
  /**
   * Events committed from now on, in commit-safe order (the changefeed), optionally of
   * one type, polling every `pollInterval` (default 500 ms). Starts at the changefeed's
   * horizon and drops what had committed before the start, so it neither misses an event
   * committed later nor shows one committed earlier.
   */
  readonly tail: (options: {
    readonly type?: string | undefined
    readonly pollInterval?: Duration.DurationInput | undefined
  }) => Stream.Stream<ChangeRow, StoreError>
}

/** The operations tools, as a service. */
export class Operations extends Context.Tag("sluice/Operations")<Operations, OperationsService>() {}

/** Defaults of the batch sizes and windows. */
export const defaults = {
  failedLimit: 100,
  batchSize: 1_000,
  tailPageSize: 500,
  tailPollInterval: Duration.millis(500)
} as const

const eventIdPattern = /^[1-9]\d{0,18}$/

/** Whether `id` can name an event (a positive bigint); others match nothing. */
export const isEventId = (id: string): boolean => eventIdPattern.test(id)

const isRefs = (target: ReadonlyArray<DeliveryRef> | Selection): target is ReadonlyArray<DeliveryRef> =>
  Array.isArray(target)

const nowDate = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

const toDeadLetter = (row: OperationsStore.DeadLetterRow): DeadLetter => ({
  eventId: row.event_id,
  group: row.consumer_group,
  type: row.type,
  routingKey: row.routing_key,
  attempts: row.attempts,
  lastError: row.last_error,
  failedAt: row.failed_at,
  createdAt: row.created_at
})

/**
 * Whether a transaction id had committed in a snapshot (`xmin:xmax:xip,…`, as
 * `pg_current_snapshot()::text` prints it): below `xmin`, or below `xmax` and not running.
 */
export const committedBefore = (snapshot: string) => {
  const [xmin = "0", xmax = "0", running = ""] = snapshot.split(":")
  const min = BigInt(xmin)
  const max = BigInt(xmax)
  const inProgress = new Set(running === "" ? [] : running.split(",").map((xid) => BigInt(xid)))
  return (tx: string): boolean => {
    const xid = BigInt(tx)
    return xid < min || (xid < max && !inProgress.has(xid))
  }
}

/** Builds the service on the runtime's store. */
export const make: Effect.Effect<OperationsService, never, OperationsStore.OperationsStore | Store> = Effect.gen(
  function*() {
    const db = yield* OperationsStore.OperationsStore
    const store = yield* Store

    const status: OperationsService["status"] = Effect.gen(function*() {
      const now = yield* nowDate
      const rows = yield* db.status(now)
      return rows.map((row): GroupStatus => ({
        group: row.consumer_group,
        pending: row.pending,
        due: row.due,
        claimed: row.claimed,
        failed: row.failed,
        skipped: row.skipped,
        deliveredLastHour: row.delivered_last_hour,
        oldestPendingAgeMs: row.oldest_pending_at === null
          ? null
          : Math.max(0, now.getTime() - row.oldest_pending_at.getTime()),
        throughputPerMinute: row.delivered_last_5_minutes / 5
      }))
    }).pipe(Effect.withSpan("Operations.status"))

    const failed: OperationsService["failed"] = Effect.fn("Operations.failed")(function*(filter) {
      const rows = yield* db.failed({
        group: filter.group ?? null,
        type: filter.type ?? null,
        limit: filter.limit ?? defaults.failedLimit
      })
      return rows.map(toDeadLetter)
    })

    const failedDetail: OperationsService["failedDetail"] = Effect.fn("Operations.failedDetail")(
      function*(eventId, group) {
        if (!isEventId(eventId)) return []
        const rows = yield* db.failedDetail(eventId, group ?? null)
        const errors = yield* db.attemptErrors(
          rows.map((row) => ({ event_id: row.event_id, consumer_group: row.consumer_group }))
        )
        return rows.map((row): DeadLetterDetail => ({
          ...toDeadLetter(row),
          payload: row.payload,
          metadata: row.metadata ?? {},
          errors: errors
            .filter((error) => error.consumer_group === row.consumer_group)
            .map((error) => ({ attempt: error.attempt, error: error.error, at: error.at }))
        }))
      }
    )

    /** Runs a bulk change over a target: one statement for refs, keyset batches for a selection. */
    const bulk = (
      change: (target: OperationsStore.Target, now: Date) => Effect.Effect<ReadonlyArray<string>, StoreError>,
      target: ReadonlyArray<DeliveryRef> | Selection
    ) =>
      Effect.gen(function*() {
        const now = yield* nowDate
        if (isRefs(target)) {
          const refs = target
            .filter((ref) => isEventId(ref.eventId))
            .map((ref) => ({ event_id: ref.eventId, consumer_group: ref.group }))
          if (refs.length === 0) return 0
          return (yield* change({ _tag: "Refs", refs }, now)).length
        }
        let afterId = "0"
        let total = 0
        for (;;) {
          const moved = yield* change({
            _tag: "Filter",
            group: target.group,
            type: target.type ?? null,
            since: target.since ?? null,
            afterId,
            until: now,
            limit: defaults.batchSize
          }, now)
          total += moved.length
          if (moved.length < defaults.batchSize) return total
          afterId = moved.at(-1)!
        }
      })

    const retry: OperationsService["retry"] = (target) =>
      bulk(db.retry, target).pipe(Effect.withSpan("Operations.retry"))

    const skip: OperationsService["skip"] = (target) => bulk(db.skip, target).pipe(Effect.withSpan("Operations.skip"))

    const replay: OperationsService["replay"] = Effect.fn("Operations.replay")(function*(options, onProgress) {
      const { group, since, type } = options
      const batchSize = options.batchSize ?? defaults.batchSize
      const { registered, subscriptions } = yield* db.subscriptions(group)
      if (!registered) {
        return yield* new StoreError({ operation: "replay", message: `no consumer group named ${group}` })
      }
      if (!subscriptions.some((subscription) => subscription.event_type === type)) {
        return yield* new StoreError({
          operation: "replay",
          message: `consumer group ${group} does not subscribe to ${type} (it takes ${
            subscriptions.map((subscription) => subscription.event_type).join(", ") || "nothing"
          })`
        })
      }
      const total = yield* db.replayCount({ group, type, since })
      let afterId = "0"
      let done = 0
      let queued = 0
      for (;;) {
        const now = yield* nowDate
        const batch = yield* db.replayBatch({ group, type, since, afterId, limit: batchSize, now })
        if (batch.lastId === null) break
        done += batch.scanned
        queued += batch.queued
        afterId = batch.lastId
        if (onProgress !== undefined) yield* onProgress(done, Math.max(total, done))
        if (batch.scanned < batchSize) break
      }
      return queued
    })

    const prune: OperationsService["prune"] = Effect.fn("Operations.prune")(function*(options, onProgress) {
      const now = yield* Clock.currentTimeMillis
      let deleted = 0
      yield* Retention.pruneBefore(
        new Date(now - options.olderThanMs),
        options.batchSize ?? defaults.batchSize,
        (removed) => {
          deleted += removed
          return onProgress === undefined ? Effect.void : onProgress(deleted)
        }
      ).pipe(Effect.provideService(Store, store))
      return deleted
    })

    const tail: OperationsService["tail"] = (options) =>
      Stream.unwrap(Effect.gen(function*() {
        const start = yield* db.head
        let cursor = { tx: start.tx, id: start.id }
        const before = committedBefore(start.snapshot)
        const types = options.type === undefined ? null : [options.type]
        // Reads page after page while they come full, so a burst is not paced by the poll interval.
        const page = Effect.gen(function*() {
          const batch: Array<ChangeRow> = []
          for (;;) {
            const rows = yield* store.changes({
              afterTx: cursor.tx,
              afterId: cursor.id,
              limit: defaults.tailPageSize,
              types
            })
            const last = rows.at(-1)
            if (last !== undefined) cursor = { tx: last.tx, id: last.id }
            for (const row of rows) if (!before(row.tx)) batch.push(row)
            if (rows.length < defaults.tailPageSize || batch.length >= 10 * defaults.tailPageSize) return batch
          }
        })
        const schedule = Schedule.spaced(options.pollInterval ?? defaults.tailPollInterval)
        return Stream.repeatEffectWithSchedule(page, schedule).pipe(Stream.flattenIterables)
      }))

    return { status, failed, failedDetail, retry, skip, replay, prune, tail }
  }
)

/** The operations tools on the runtime's store and schema. */
export const layer: Layer.Layer<Operations, never, SqlClient.SqlClient | RuntimeConfig | Store> = Layer.effect(
  Operations,
  make
).pipe(Layer.provide(OperationsStore.layer))
