/**
 * Handlers of `/api/v1/ops/*`: the dashboard's live view of the consumer groups, the
 * pipeline's graph, and the dead letters with retry and skip, through the same
 * `Operations` service as the command line.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Topology from "../dashboard/Topology.js"
import { Operations } from "../ops/Operations.js"
import { Store } from "../runtime/index.js"
import { Api, ServerError } from "./Api.js"

/** The window of the sparklines and the p95 latency, and its bucket size. */
export const window = { total: Duration.minutes(5), bucket: Duration.seconds(10) }

/** How many of the latest events are read for causation pairs on each topology request. */
const causationSample = 5_000

const serverError = (what: string) => (error: unknown): Effect.Effect<never, ServerError> =>
  Effect.zipRight(
    Effect.logError(`${what} failed`, error),
    Effect.fail(new ServerError({ message: `${what} failed` }))
  )

export const OperationsLive = HttpApiBuilder.group(Api, "operations", (handlers) =>
  Effect.gen(function*() {
    const operations = yield* Operations
    const declared = yield* Effect.serviceOption(Topology.DeclaredEmits)
    // Pairs seen once stay drawn after retention prunes their events.
    const seenCauses = yield* Ref.make(new Map<string, { causeType: string; type: string }>())
    return handlers
      .handle("groups", () =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const bucketMs = Duration.toMillis(window.bucket)
          const buckets = Math.round(Duration.toMillis(window.total) / bucketMs)
          const last = Math.floor(now / bucketMs)
          const first = last - buckets + 1
          const status = yield* operations.status
          const { activity, latency } = yield* Store.groupActivity(new Date(first * bucketMs), bucketMs)
          const series = new Map<string, Array<number>>()
          for (const row of activity) {
            const counts = series.get(row.consumer_group) ?? Array.from({ length: buckets }, () => 0)
            const at = row.bucket - first
            if (at >= 0 && at < buckets) counts[at] = row.settled
            series.set(row.consumer_group, counts)
          }
          const p95 = new Map(latency.map((row) => [row.consumer_group, row.p95_ms]))
          return {
            at: new Date(now),
            windowSeconds: buckets * bucketMs / 1000,
            bucketSeconds: bucketMs / 1000,
            groups: status.map((group) => ({
              ...group,
              p95LatencyMs: p95.get(group.group) ?? null,
              settledPerBucket: series.get(group.group) ?? Array.from({ length: buckets }, () => 0)
            }))
          }
        }).pipe(Effect.catchAll(serverError("reading the consumer groups' activity"))))
      .handle("topology", () =>
        Effect.gen(function*() {
          const subscriptions = yield* Store.subscriptionList
          const pairs = yield* Store.causationPairs(causationSample)
          const causes = yield* Ref.updateAndGet(seenCauses, (seen) => {
            const next = new Map(seen)
            for (const pair of pairs) {
              next.set(`${pair.cause_type}\u0000${pair.type}`, { causeType: pair.cause_type, type: pair.type })
            }
            return next
          })
          const groups = yield* operations.status
          return Topology.make({
            subscriptions: subscriptions.map((row) => ({
              group: row.consumer_group,
              eventType: row.event_type,
              routingKey: row.routing_key
            })),
            causes: [...causes.values()],
            emits: Option.getOrUndefined(declared),
            groups: groups.map((group) => group.group)
          })
        }).pipe(Effect.catchAll(serverError("reading the pipeline's graph"))))
      .handle("deadLetters", ({ urlParams }) =>
        operations.failed(urlParams).pipe(Effect.catchAll(serverError("listing dead letters"))))
      .handle("deadLetter", ({ path, urlParams }) =>
        operations.failedDetail(path.eventId, urlParams.group).pipe(
          Effect.catchAll(serverError(`reading the dead letters of event ${path.eventId}`))
        ))
      .handle("retry", ({ payload }) =>
        operations.retry(payload.deliveries).pipe(
          Effect.map((count) => ({ count })),
          Effect.catchAll(serverError("retrying dead letters"))
        ))
      .handle("skip", ({ payload }) =>
        operations.skip(payload.deliveries).pipe(
          Effect.map((count) => ({ count })),
          Effect.catchAll(serverError("skipping dead letters"))
        ))
  }))
