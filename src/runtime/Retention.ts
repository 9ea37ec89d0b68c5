/**
 * Retention: deletes delivered and skipped deliveries older than the retention period,
 * and events no consumer group still needs, in bounded batches, so the hot tables stay
 * small. Failed deliveries (dead letters) are kept until handled by hand.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import type { StoreError } from "./Errors.js"
import { type PruneBatch, Store } from "./Store.js"

/** Rows deleted per statement. */
export const batchLimit = 1_000

/** Runs a pruning statement batch after batch, each resuming where the last one stopped, until one says the pass is done. */
const untilDone = (
  step: (from: string) => Effect.Effect<PruneBatch, StoreError, Store>,
  start: string,
  onBatch: (removed: number) => Effect.Effect<void>
) =>
  Effect.gen(function*() {
    let removed = 0
    let from = start
    for (;;) {
      const batch = yield* step(from)
      removed += batch.removed
      yield* onBatch(batch.removed)
      if (batch.next === null) return removed
      from = batch.next
    }
  })

/**
 * Deletes the settled deliveries older than `before`, then the events older than `before`
 * that no delivery needs any more (so an event whose deliveries went in this pass goes too),
 * `limit` rows per statement. `onBatch` is told how many rows each statement deleted.
 */
export const pruneBefore = (
  before: Date,
  limit: number,
  onBatch: (removed: number) => Effect.Effect<void> = () => Effect.void
) =>
  Effect.gen(function*() {
    const store = yield* Store
    const deliveries = yield* untilDone((from) => store.pruneDeliveries(before, limit, from), "-infinity", onBatch)
    const events = yield* untilDone((from) => store.pruneEvents(before, limit, from), "0", onBatch)
    return { deliveries, events }
  })

/** Prunes everything older than `retention`; returns the counts. */
export const pruneOnce = (retention: Duration.DurationInput) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const removed = yield* pruneBefore(new Date(now - Duration.toMillis(retention)), batchLimit)
    if (removed.deliveries + removed.events > 0) {
      yield* Effect.logDebug(`pruned ${removed.deliveries} deliveries and ${removed.events} events`)
    }
    return removed
  }).pipe(Effect.withSpan("Retention.pruneOnce"))

/**
 * Prunes on a schedule until interrupted, first after the schedule's first delay (not at once:
 * a pool's first moments go to its claims); failures are logged and retried next tick.
 */
export const run = (retention: Duration.DurationInput, schedule: Schedule.Schedule<unknown>) =>
  pruneOnce(retention).pipe(
    Effect.catchAllCause((cause) => Effect.logWarning("retention pruning failed; will try again", cause)),
    Effect.schedule(schedule),
    Effect.asVoid
  )
