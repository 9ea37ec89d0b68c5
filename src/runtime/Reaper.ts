/**
 * The reaper: on a schedule, takes back deliveries whose lease is older than their own
 * handler's `claimTimeout` (a crashed or stalled worker), counting the attempt, so a
 * poison event that kills its process is dead-lettered after `maxAttempts`. Safe to run
 * in every process at once: it skips rows another reaper or a settling worker holds.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as Schedule from "effect/Schedule"
import * as Metrics from "./Metrics.js"
import { Store } from "./Store.js"

/** Rows taken back per statement. */
export const batchLimit = 1_000

/** Takes back every expired lease, in bounded statements; returns how many. */
export const reapOnce = Effect.gen(function*() {
  const store = yield* Store
  let total = 0
  for (;;) {
    const now = yield* Clock.currentTimeMillis
    const rows = yield* store.reap(new Date(now), batchLimit)
    total += rows.length
    const byGroup = new Map<string, { pending: number; failed: number }>()
    for (const row of rows) {
      const entry = byGroup.get(row.consumer_group) ?? { pending: 0, failed: 0 }
      entry[row.status]++
      byGroup.set(row.consumer_group, entry)
    }
    for (const [group, { failed, pending }] of byGroup) {
      const tagged = Metrics.forGroup(group)
      yield* Metric.incrementBy(Metric.tagged(Metrics.reaped, "consumer_group", group), pending + failed)
      yield* Metric.incrementBy(tagged.deadLettered, failed)
      yield* Effect.logWarning(`reaped expired leases: ${pending} back to pending, ${failed} dead-lettered`).pipe(
        Effect.annotateLogs("consumerGroup", group)
      )
    }
    if (rows.length < batchLimit) return total
  }
}).pipe(Effect.withSpan("Reaper.reapOnce"))

/**
 * Runs the reaper on a schedule until interrupted, first after the schedule's first delay (not
 * at once: a pool's first moments go to its claims); failures are logged and the next tick
 * tries again.
 */
export const run = (schedule: Schedule.Schedule<unknown>) =>
  reapOnce.pipe(
    Effect.catchAllCause((cause) => Effect.logWarning("reaper failed; will try again", cause)),
    Effect.schedule(schedule),
    Effect.asVoid
  )
