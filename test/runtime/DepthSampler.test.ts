/**
 * The depth sampler against the real database: the gauges it sets, its interval under
 * `TestClock`, one leader among several samplers (an advisory lock on a reserved
 * connection), and another taking over when the leader's session dies or its pool stops.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Database from "../../src/runtime/Database.js"
import * as DepthSampler from "../../src/runtime/DepthSampler.js"
import * as Sluice from "../../src/runtime/Sluice.js"
import { Store } from "../../src/runtime/Store.js"
import * as WorkerPool from "../../src/runtime/WorkerPool.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

const gauge = (metric: Metric.Metric.Gauge<number>, group: string) =>
  Effect.map(Metric.value(Metric.tagged(metric, "consumer_group", group)), (state) => state.value)

const emit = (type: string, count: number, at: number) =>
  Effect.flatMap(Store, (store) =>
    store.emit(
      Array.from({ length: count }, (_, n) => ({
        type,
        routing_key: null,
        payload: { n },
        metadata: {},
        dedup_key: null,
        available_at: null
      })),
      new Date(at)
    ))

/** The backends holding the sampler's advisory lock in this database, with their application names. */
const lockHolders = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return yield* sql<{ pid: number; application_name: string }>`
    SELECT a.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext(${`sluice:${TestDatabase.schema}:${DepthSampler.role}`})::bigint`
})

const sleepsAt = (at: number) => Effect.map(TestClock.sleeps(), (sleeps) => Chunk.toReadonlyArray(sleeps).includes(at))

describe("DepthSampler", () => {
  it.layer(Runtime.layer)((it) => {
    it.scoped("samples depth, in-flight, dead letters and oldest pending age every interval", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* Runtime.registerGroup({ name: "sampled.a", eventType: "sampled.A" })
        yield* Runtime.registerGroup({ name: "sampled.b", eventType: "sampled.B" })
        yield* emit("sampled.A", 3, 1_000)
        yield* emit("sampled.A", 1, 4_000)
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE sluice.deliveries SET status = 'failed' WHERE event_id = 4`
        yield* TestClock.setTime(6_000)

        const sampler = yield* DepthSampler.make({ interval: "10 seconds" })
        yield* Runtime.waitUntil("the first sample", sampler.samples, (n) => n === 1)
        assert.isTrue(yield* sampler.leading)
        assert.strictEqual(yield* gauge(DepthSampler.depth, "sampled.a"), 3)
        assert.strictEqual(yield* gauge(DepthSampler.deadLetters, "sampled.a"), 1)
        assert.strictEqual(yield* gauge(DepthSampler.inFlight, "sampled.a"), 0)
        assert.strictEqual(yield* gauge(DepthSampler.oldestPendingAge, "sampled.a"), 5_000)
        assert.strictEqual(yield* gauge(DepthSampler.depth, "sampled.b"), 0)
        assert.strictEqual(yield* gauge(DepthSampler.oldestPendingAge, "sampled.b"), 0)

        // The next sample is due exactly one interval later, not a millisecond before.
        yield* Runtime.waitUntil("the next sample scheduled at 16 s", sleepsAt(16_000), (due) => due)
        yield* emit("sampled.B", 2, 6_000)
        yield* TestClock.adjust("9999 millis")
        assert.isTrue(yield* sleepsAt(16_000), "still waiting for 16 s")
        assert.strictEqual(yield* sampler.samples, 1)
        yield* TestClock.adjust("1 millis")
        yield* Runtime.waitUntil("the second sample", sampler.samples, (n) => n === 2)
        assert.strictEqual(yield* gauge(DepthSampler.depth, "sampled.b"), 2)
        assert.strictEqual(yield* gauge(DepthSampler.oldestPendingAge, "sampled.b"), 10_000)
        assert.strictEqual(yield* gauge(DepthSampler.oldestPendingAge, "sampled.a"), 15_000)
      }))

    it.scoped("one leader samples; the other takes over when the leader's session dies", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* Runtime.registerGroup({ name: "led", eventType: "led.A" })
        const interval = 1_000
        const first = yield* DepthSampler.make({ interval })
        yield* Runtime.waitUntil("the first sampler to lead", first.samples, (n) => n === 1)
        const second = yield* DepthSampler.make({ interval })
        const start = yield* Clock.currentTimeMillis
        // Both loops are asleep until the next interval: the leader's next sample, the other's next try.
        yield* Runtime.waitUntil(
          "both samplers waiting for the next interval",
          Effect.map(TestClock.sleeps(), (sleeps) =>
            Chunk.toReadonlyArray(sleeps).filter((at) => at === start + interval)),
          (due) =>
            due.length === 2
        )
        for (let tick = 2; tick <= 4; tick++) {
          yield* TestClock.adjust(interval)
          yield* Runtime.waitUntil(`sample ${tick} by the leader`, first.samples, (n) => n === tick)
          assert.isTrue(yield* first.leading)
          assert.isFalse(yield* second.leading)
          assert.strictEqual(yield* second.samples, 0, "the second sampler never samples while the first leads")
        }
        assert.strictEqual((yield* lockHolders).length, 1)

        // Kill the leader's session, as a dead process would lose it.
        const [holder] = yield* lockHolders
        const sql = yield* SqlClient.SqlClient
        yield* sql`SELECT pg_terminate_backend(${holder!.pid})`
        yield* Runtime.waitUntil(
          "the second sampler to take over",
          Effect.zipRight(TestClock.adjust(interval), Effect.zip(second.samples, first.leading)),
          ([samples, firstLeads]) => samples >= 1 && !firstLeads
        )
        assert.isTrue(yield* second.leading)
        const [newHolder] = yield* lockHolders
        assert.notStrictEqual(newHolder!.pid, holder!.pid)
        // The old leader keeps trying and stays a follower.
        const before = yield* first.samples
        yield* TestClock.adjust(interval)
        yield* Runtime.waitUntil("the new leader's next sample", second.samples, (n) => n >= 2)
        assert.isFalse(yield* first.leading)
        assert.strictEqual(yield* first.samples, before)
      }))

    it.scoped("two worker pools (their own connection pools): one leads; when its pool stops the other leads", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const { url } = yield* TestDatabase.TestDatabase
        const pool = (name: string) =>
          WorkerPool.layer([], { depthSampler: { interval: "100 millis" }, notifications: { mode: "poll" } }).pipe(
            Layer.provide(Sluice.layer({ migrate: false, schema: TestDatabase.schema })),
            Layer.provideMerge(Database.layer({ url, maxConnections: 2, applicationName: name }))
          )
        const holderNames = Effect.map(lockHolders, (rows) => rows.map((row) => row.application_name))
        const scopeA = yield* Scope.make()
        yield* Layer.buildWithScope(pool("pool-a"), scopeA)
        yield* Runtime.waitUntil("pool-a to lead", holderNames, (names) => names.join() === "pool-a")
        const scopeB = yield* Scope.make()
        yield* Effect.addFinalizer(() => Scope.close(scopeB, Exit.void))
        yield* Layer.buildWithScope(pool("pool-b"), scopeB)
        assert.deepStrictEqual(yield* holderNames, ["pool-a"])
        yield* Scope.close(scopeA, Exit.void)
        // pool-b tries to lead again every 100 ms of the test clock.
        yield* Runtime.waitUntil(
          "pool-b to lead",
          Effect.zipLeft(holderNames, TestClock.adjust("100 millis")),
          (names) => names.join() === "pool-b"
        )
      }))

    it.effect("a bad interval fails at start, naming the field; SLUICE_DEPTH_SAMPLE_INTERVAL turns it on", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(DepthSampler.checkOptions({ interval: "0 millis" }))
        assert.strictEqual(error._tag, "InvalidConfig")
        assert.include(error.message, "interval")
        const read = (values: Record<string, string>) =>
          WorkerPool.config.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(values)))))
        assert.strictEqual((yield* read({})).depthSampler, undefined)
        const on = yield* read({ SLUICE_DEPTH_SAMPLE_INTERVAL: "30 seconds" })
        assert.deepStrictEqual(on.depthSampler, { interval: Duration.seconds(30) })
        const negative = yield* Effect.flip(read({ SLUICE_DEPTH_SAMPLE_INTERVAL: "-5 seconds" }))
        assert.include(String(negative), "SLUICE_DEPTH_SAMPLE_INTERVAL")
      }))
  })
})
