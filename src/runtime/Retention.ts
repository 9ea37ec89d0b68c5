/**
 * Retention: deletes delivered and skipped deliveries older than the retention period,
 * and events no consumer group still needs, in bounded batches, so the hot tables stay
 * small. Failed deliveries (dead letters) are kept until handled by hand.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import { Store } from "./Store.js"

/** Rows deleted per statement. */
export const batchLimit = 1_000

/** Prunes everything older than `retention`, batch by batch; returns the counts. */
export const pruneOnce = (retention: Duration.DurationInput) =>
  Effect.gen(function*() {
    const store = yield* Store
    const now = yield* Clock.currentTimeMillis
    const before = new Date(now - Duration.toMillis(retention))
    let deliveries = 0
    let events = 0
    for (;;) {
      const removed = yield* store.prune(before, batchLimit)
      deliveries += removed.deliveries
      events += removed.events
      if (removed.deliveries < batchLimit && removed.events < batchLimit) break
    }
    if (deliveries + events > 0) {
      yield* Effect.logDebug(`pruned ${deliveries} deliveries and ${events} events`)
    }
    return { deliveries, events }
  }).pipe(Effect.withSpan("Retention.pruneOnce"))

/** Prunes on a schedule until interrupted; failures are logged and retried next tick. */
export const run = (retention: Duration.DurationInput, schedule: Schedule.Schedule<unknown>) =>
  pruneOnce(retention).pipe(
    Effect.catchAllCause((cause) => Effect.logWarning("retention pruning failed; will try again", cause)),
    Effect.repeat(schedule),
    Effect.asVoid
  )
