/**
 * Queue depth gauges per consumer group, sampled by one process for all. Every process
 * that runs a sampler contends for a PostgreSQL advisory lock on a connection it
 * reserves; the one that gets it (the leader) samples `Store.groupStats` every
 * `interval` and sets the gauges, the others try again every `interval`. The lock lives
 * as long as the leader's session: when the leader's process dies (or its connection
 * does), the server drops the lock and another process takes over at its next try.
 *
 * Gauges, tagged `consumer_group`: `sluice_queue_depth` (pending), `sluice_queue_in_flight`
 * (claimed), `sluice_dead_letters` (failed), `sluice_oldest_pending_age_ms` (since the
 * oldest pending delivery became due; 0 when none is due).
 *
 * @example
 * ```ts
 * const Pool = WorkerPool.layer(handlers, { depthSampler: { interval: "15 seconds" } })
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { InvalidConfig, StoreError } from "./Errors.js"
import { positiveDuration, show } from "./internal/configRules.js"
import type { RuntimeConfig } from "./RuntimeConfig.js"
import * as Store from "./Store.js"

/** Options of the sampler. */
export interface Options {
  /** How often the leader samples, and how often the others try to lead. Default 15 seconds. */
  readonly interval?: Duration.DurationInput | undefined
}

export const defaults = { interval: Duration.seconds(15) }

/** The advisory lock's role name (the key is per schema). */
export const role = "depth-sampler"

export const depth = Metric.gauge("sluice_queue_depth", {
  description: "Pending deliveries per consumer group (sampled by one leader process)"
})
export const inFlight = Metric.gauge("sluice_queue_in_flight", {
  description: "Claimed deliveries per consumer group (sampled by one leader process)"
})
export const deadLetters = Metric.gauge("sluice_dead_letters", {
  description: "Failed deliveries (dead letters) per consumer group (sampled by one leader process)"
})
export const oldestPendingAge = Metric.gauge("sluice_oldest_pending_age_ms", {
  description: "Milliseconds since the oldest pending delivery of a consumer group became due (sampled)"
})

/** A running sampler, for tests and health checks. */
export interface DepthSampler {
  /** True while this sampler holds the lock. */
  readonly leading: Effect.Effect<boolean>
  /** How many samples this sampler has taken. */
  readonly samples: Effect.Effect<number>
}

/** Reads the groups' statistics once and sets the gauges. */
export const sampleOnce = Effect.gen(function*() {
  const store = yield* Store.Store
  const now = yield* Clock.currentTimeMillis
  const stats = yield* store.groupStats(new Date(now), new Date(now))
  for (const group of stats) {
    const tag = <M extends Metric.Metric.Gauge<number>>(metric: M) =>
      Metric.tagged(metric, "consumer_group", group.consumer_group)
    const oldest = group.oldest_pending_at === null ? now : group.oldest_pending_at.getTime()
    yield* Metric.set(tag(depth), group.pending)
    yield* Metric.set(tag(inFlight), group.claimed)
    yield* Metric.set(tag(deadLetters), group.failed)
    yield* Metric.set(tag(oldestPendingAge), Math.max(0, now - oldest))
  }
  return stats.length
}).pipe(Effect.withSpan("DepthSampler.sampleOnce"))

/** Validates options: a bad interval fails with `InvalidConfig` naming the value and the rule. */
export const checkOptions = (options: Options = {}) =>
  Effect.map(checkInterval(options.interval), (interval): Options => ({ interval }))

const checkInterval = (value: Duration.DurationInput | undefined) =>
  value === undefined ? Effect.succeed(defaults.interval) : Either.match(positiveDuration(value), {
    onLeft: (rule) =>
      Effect.fail(new InvalidConfig({ subject: "depth sampler", field: "interval", value: show(value), rule })),
    onRight: Effect.succeed
  })

/**
 * Starts the sampler in the current scope: its loop contends for leadership, samples
 * while it leads, and gives the lock back when the scope closes.
 */
export const make = (
  options: Options = {}
): Effect.Effect<DepthSampler, InvalidConfig, Scope.Scope | Store.Store | SqlClient.SqlClient | RuntimeConfig> =>
  Effect.gen(function*() {
    const interval = yield* checkInterval(options.interval)
    const sql = yield* SqlClient.SqlClient
    const leading = yield* Ref.make(false)
    const samples = yield* Ref.make(0)

    const sample = sampleOnce.pipe(Effect.zipRight(Ref.update(samples, (n) => n + 1)))

    /** One term: reserve a connection, try the lock; while held, sample every interval. Ends in failure when the lock is lost. */
    const term = Effect.scoped(Effect.gen(function*() {
      const connection = yield* sql.reserve
      // Statements run on the reserved session: the lock must be taken, checked and given back there.
      const onSession = Effect.provideService(SqlClient.TransactionConnection, [connection, 0] as const)
      // Taking the lock and registering its release are one uninterruptible step: an
      // interruption in between would hand the connection back to the pool still locked.
      const locked = yield* Effect.acquireRelease(
        onSession(Store.tryLeadership(role)),
        (locked) =>
          locked
            ? Ref.set(leading, false).pipe(
              Effect.zipRight(onSession(Store.releaseLeadership(role))),
              Effect.catchAllCause((cause) => Effect.logDebug("depth sampler: could not release the lock", cause))
            )
            : Effect.void
      )
      if (!locked) return
      yield* Ref.set(leading, true)
      yield* Effect.logInfo("depth sampler: leading")
      yield* Effect.gen(function*() {
        if (!(yield* onSession(Store.holdsLeadership(role)))) {
          return yield* Effect.fail(
            new StoreError({
              operation: "holdsLeadership",
              message: "the depth sampler's advisory lock is no longer held"
            })
          )
        }
        yield* sample
      }).pipe(Effect.repeat(Schedule.spaced(interval)))
    }))

    yield* term.pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("depth sampler: lost or could not take the lead", cause)),
      Effect.zipRight(Effect.sleep(interval)),
      Effect.forever,
      Effect.annotateLogs("component", "DepthSampler"),
      Effect.forkScoped
    )
    return { leading: Ref.get(leading), samples: Ref.get(samples) }
  })
