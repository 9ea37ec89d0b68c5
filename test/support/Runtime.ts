/**
 * Helpers for runtime tests: the runtime on the test file's database, a worker pool
 * started in a scope, and bounded waits on database state.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import type { Handler } from "../../src/runtime/Handler.js"
import * as Sluice from "../../src/runtime/Sluice.js"
import { Store } from "../../src/runtime/Store.js"
import * as WorkerPool from "../../src/runtime/WorkerPool.js"
import * as TestDatabase from "./TestDatabase.js"

/** The runtime's services on this file's database (already migrated from the template). */
export const layer = Sluice.layer({ migrate: false }).pipe(Layer.provideMerge(TestDatabase.layer))

/** Starts a worker pool in the current scope. */
export const startPool = <const H extends ReadonlyArray<Handler<unknown>>>(
  handlers: H,
  options: WorkerPool.Options = {}
) => Effect.flatMap(Effect.scope, (scope) => Layer.buildWithScope(WorkerPool.layer(handlers, options), scope))

/** A short wait on the real clock, for polling the database while `TestClock` is in charge. */
export const liveSleep = (duration: Duration.DurationInput) => Effect.sleep(duration).pipe(TestServices.provideLive)

/**
 * Re-runs `check` on the real clock until `done` holds (at most `within`), then returns
 * its last value; fails naming `what` and the last value otherwise.
 */
export const waitUntil = <A, E, R>(
  what: string,
  check: Effect.Effect<A, E, R>,
  done: (value: A) => boolean,
  within: Duration.DurationInput = Duration.seconds(20)
): Effect.Effect<A, E | Error, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(within)
    for (;;) {
      const value = yield* check
      if (done(value)) return value
      if (Date.now() > deadline) {
        return yield* Effect.fail(new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`))
      }
      yield* liveSleep(Duration.millis(10))
    }
  })

/** Delivery rows of a group, by event id (numerically: the bigint, not its text). */
export interface DeliveryRow {
  readonly event_id: string
  readonly status: string
  readonly attempts: number
  readonly available_at: Date
  readonly last_error: string | null
  readonly routing_key: string | null
}

export const deliveries = (group: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<DeliveryRow>`SELECT d.event_id::text AS event_id, status, attempts, available_at, last_error, routing_key
      FROM sluice.deliveries d WHERE consumer_group = ${group} ORDER BY d.event_id`
  )

/** The routing keys a group's deliveries carry (the keys it takes turns by, if it interleaves), in event order. */
export const routingKeys = (group: string) =>
  Effect.map(deliveries(group), (rows) => rows.map((row) => row.routing_key))

/** Number of a group's deliveries per status. */
export const statusCounts = (group: string) =>
  Effect.map(deliveries(group), (rows) => {
    const counts: Record<string, number> = {}
    for (const row of rows) counts[row.status] = (counts[row.status] ?? 0) + 1
    return counts
  })

/**
 * Moves the test clock on by a millisecond before a pool starts, so that {@link waitForIdleLoop}
 * cannot mistake the sleep of an earlier test's poller (interrupted sleeps stay in
 * `TestClock.sleeps`) for the new one's.
 */
export const freshPollTime = TestClock.adjust(Duration.millis(1))

/**
 * Waits until some fiber sleeps until exactly `pollInterval` after the current test
 * time: the pool's poller, which sleeps once a claim loop found nothing and went idle.
 * Moving the clock before that would leave the sleep scheduled after the new time.
 */
export const waitForIdleLoop = (pollInterval: Duration.DurationInput) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const wakeAt = now + Duration.toMillis(pollInterval)
    yield* waitUntil(
      `a claim loop idle until ${wakeAt}`,
      Effect.map(TestClock.sleeps(), (sleeps) => Chunk.toReadonlyArray(sleeps)),
      (sleeps) => sleeps.includes(wakeAt)
    )
  })

/** Registers a consumer group subscribed to one event type, as a worker pool would at start. */
export const registerGroup = (group: {
  readonly name: string
  readonly eventType: string
  readonly routingKey?: string | null
  readonly claimTimeoutMs?: number
  readonly maxAttempts?: number
  readonly interleave?: boolean
}) =>
  Effect.flatMap(Store, (store) =>
    store.registerGroup({
      name: group.name,
      claimTimeoutMs: group.claimTimeoutMs ?? 60_000,
      maxAttempts: group.maxAttempts ?? 5,
      interleave: group.interleave ?? false,
      subscriptions: [{ eventType: group.eventType, routingKey: group.routingKey ?? null }]
    }, new Date(0)))
