import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import * as Event from "../../src/runtime/Event.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Metrics from "../../src/runtime/Metrics.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"
import { recordingTracer } from "../support/Tracing.js"

class Ping extends Event.Class<Ping>()("test.Ping", { n: Schema.Number }) {}

const counter = (metric: Metric.Metric.Counter<number>, group: string) =>
  Effect.map(Metric.value(Metric.tagged(metric, "consumer_group", group)), (state) => state.count)

describe("Observability", () => {
  it.layer(Runtime.layer)((it) => {
    it.scoped("metrics per consumer group, and batch spans linked to the emitting spans", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const { spans, tracer } = yield* recordingTracer
        const group = "observed"
        yield* Runtime.startPool([
          Handler.make({
            name: group,
            event: Ping,
            batchSize: 10,
            maxAttempts: 1,
            handle: (event): Effect.Effect<void, Handler.Permanent | Handler.Skip> =>
              event.n === 2
                ? new Handler.Permanent({ message: "bad" })
                : event.n === 3
                ? new Handler.Skip({ reason: "not needed" })
                : Effect.void
          })
        ]).pipe(Effect.withTracer(tracer))
        const emitter = yield* Outbox.emitAll([1, 2, 3, 4].map((n) => new Ping({ n }))).pipe(
          Effect.zipRight(Effect.currentSpan),
          Effect.withSpan("test.emitter"),
          Effect.withTracer(tracer)
        )
        yield* Runtime.waitUntil(
          "all four settled",
          Runtime.statusCounts(group),
          (counts) => counts.delivered === 2 && counts.failed === 1 && counts.skipped === 1
        )
        assert.strictEqual(yield* counter(Metrics.claimed, group), 4)
        assert.strictEqual(yield* counter(Metrics.delivered, group), 2)
        assert.strictEqual(yield* counter(Metrics.skipped, group), 1)
        assert.strictEqual(yield* counter(Metrics.deadLettered, group), 1)
        assert.strictEqual(yield* counter(Metrics.retried, group), 0)
        const lag = yield* Metric.value(Metric.tagged(Metrics.lag, "consumer_group", group))
        assert.strictEqual(lag.count, 4)

        const batches = spans.filter((span) => span.name === "sluice.batch")
        assert.isAbove(batches.length, 0)
        // Linked to the emit's span (`Outbox.emitAll`), inside the emitter's trace.
        const linked = batches.flatMap((span) => span.links.map((link) => link.span))
        assert.isAbove(linked.length, 0)
        assert.isTrue(linked.every((span) => span.traceId === emitter.traceId))
        assert.strictEqual(batches[0]!.attributes.get("sluice.consumer_group"), group)
        // The handler's statements (savepoints, settlement) are traced; the loop's claims are not.
        const statements = spans.filter((span) => span.name === "sql.execute")
          .map((span) => String(span.attributes.get("db.query.text")))
        assert.isAbove(statements.length, 0)
        assert.isFalse(statements.some((text) => text.includes("SET status = 'claimed'")), "no span per claim")
      }))

    it.scoped("with Effect's built-in tracer (nothing exported) no trace ids are stored with events", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const sql = yield* SqlClient.SqlClient
        yield* Outbox.emit(new Ping({ n: 1 })).pipe(Effect.withSpan("test.untraced"))
        const { spans, tracer } = yield* recordingTracer
        yield* Outbox.emit(new Ping({ n: 2 })).pipe(Effect.withSpan("test.traced"), Effect.withTracer(tracer))
        const rows = yield* sql<{ readonly n: number; readonly metadata: Record<string, unknown> }>`
          SELECT (payload->>'n')::int AS n, metadata FROM sluice.events ORDER BY id`
        assert.deepStrictEqual(rows[0], { n: 1, metadata: {} })
        const traced = spans.find((span) => span.name === "Outbox.emit")
        assert.isDefined(traced)
        assert.deepStrictEqual(rows[1]!.metadata, { traceId: traced!.traceId, spanId: traced!.spanId })
      }))
  })
})
