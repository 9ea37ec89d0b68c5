import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import { Operations } from "../../src/ops/Operations.js"
import * as OperationsLayer from "../../src/ops/Operations.js"
import * as OperationsStore from "../../src/ops/OperationsStore.js"
import * as Event from "../../src/runtime/Event.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import { Store } from "../../src/runtime/Store.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

class Item extends Event.Class<Item>()("ops.Item", { n: Schema.Number }) {}
class Other extends Event.Class<Other>()("ops.Other", { n: Schema.Number }) {}

const TestLayer = OperationsLayer.layer.pipe(Layer.provideMerge(Runtime.layer))

const nowDate = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

/** Claims every due delivery of a group and settles each with `status` and `error`. */
const settleAll = (group: string, status: "pending" | "failed" | "delivered" | "skipped", error: string | null) =>
  Effect.gen(function*() {
    const store = yield* Store
    const now = yield* nowDate
    const token = crypto.randomUUID()
    const rows = yield* store.claim({ group, limit: 10_000, token, now, fair: false })
    yield* store.settle(
      group,
      token,
      rows.map((row) => ({ event_id: row.event_id, status, available_at: null, last_error: error, release: false })),
      now
    )
    return rows.map((row) => row.event_id)
  })

const register = (name: string, eventType = "ops.Item") => Runtime.registerGroup({ name, eventType })

const errorRows = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{ event_id: string; consumer_group: string; attempt: number; error: string }>`
    SELECT event_id::text AS event_id, consumer_group, attempt, error FROM sluice.delivery_errors ORDER BY id`
)

describe("Operations", () => {
  it.layer(TestLayer)((it) => {
    it.effect("status: counts per group, due, oldest pending age, delivered last hour and throughput", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* TestClock.setTime(Date.parse("2026-01-01T10:00:00Z"))
        yield* register("a")
        yield* register("b")
        yield* register("idle", "ops.Nothing")
        yield* Outbox.emitAll(Array.from({ length: 10 }, (_, n) => new Item({ n })))
        // a: 10 delivered two minutes in (5 minutes window: 10 → 2 per minute)
        yield* TestClock.adjust("2 minutes")
        yield* settleAll("a", "delivered", null)
        // b: 4 claimed, then 1 failed and 3 back to pending later
        const store = yield* Store
        const token = crypto.randomUUID()
        const claimed = yield* store.claim({ group: "b", limit: 4, token, now: yield* nowDate, fair: false })
        assert.strictEqual(claimed.length, 4)
        yield* store.settle("b", token, [{
          event_id: claimed[0]!.event_id,
          status: "failed",
          available_at: null,
          last_error: "boom",
          release: false
        }, {
          event_id: claimed[1]!.event_id,
          status: "pending",
          available_at: new Date(Date.parse("2026-01-01T11:00:00Z")),
          last_error: "later",
          release: false
        }], yield* nowDate)
        yield* TestClock.adjust("1 minute")

        const status = yield* (yield* Operations).status
        assert.deepStrictEqual(status.map((s) => s.group), ["a", "b", "idle"])
        const [a, b, idle] = status
        assert.deepStrictEqual(a, {
          group: "a",
          pending: 0,
          due: 0,
          claimed: 0,
          failed: 0,
          skipped: 0,
          deliveredLastHour: 10,
          oldestPendingAgeMs: null,
          throughputPerMinute: 2
        })
        // b: 7 pending (6 never claimed, due since 10:00; 1 retry due at 11:00), 2 claimed, 1 failed
        assert.deepStrictEqual(b, {
          group: "b",
          pending: 7,
          due: 6,
          claimed: 2,
          failed: 1,
          skipped: 0,
          deliveredLastHour: 0,
          oldestPendingAgeMs: 3 * 60_000,
          throughputPerMinute: 0
        })
        assert.strictEqual(idle!.pending + idle!.failed + idle!.deliveredLastHour, 0)

        // an hour later, the deliveries of a have left both windows
        yield* TestClock.adjust("1 hour")
        const later = yield* (yield* Operations).status
        assert.strictEqual(later[0]!.deliveredLastHour, 0)
        assert.strictEqual(later[0]!.throughputPerMinute, 0)
        assert.strictEqual(later[1]!.due, 7)
      }))

    it.effect("every failed attempt's error is recorded (settle and reap), and failedDetail shows them in order", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* TestClock.setTime(Date.parse("2026-01-01T10:00:00Z"))
        yield* Runtime.registerGroup({ name: "g", eventType: "ops.Item", claimTimeoutMs: 1_000, maxAttempts: 3 })
        yield* Runtime.registerGroup({ name: "h", eventType: "ops.Item", maxAttempts: 3 })
        yield* Outbox.emit(new Item({ n: 7 }), { metadata: { source: "test" }, routingKey: "k" })
        const eventId = "1"
        yield* settleAll("g", "pending", "first failure")
        // second attempt: the lease expires, the reaper takes it back
        const store = yield* Store
        yield* store.claim({ group: "g", limit: 1, token: crypto.randomUUID(), now: yield* nowDate, fair: false })
        yield* TestClock.adjust("2 seconds")
        const reaped = yield* store.reap(yield* nowDate, 100)
        assert.deepStrictEqual(reaped.map((row) => row.status), ["pending"])
        yield* TestClock.adjust("1 second")
        yield* settleAll("g", "failed", "third failure")
        // h: released (not an attempt, no error), then a skip reason, not failed
        const token = crypto.randomUUID()
        const claimed = yield* store.claim({ group: "h", limit: 1, token, now: yield* nowDate, fair: false })
        yield* store.settle(
          "h",
          token,
          [{ event_id: claimed[0]!.event_id, status: "pending", available_at: null, last_error: null, release: true }],
          yield* nowDate
        )

        const errors = yield* errorRows
        assert.deepStrictEqual(errors.map((e) => [e.consumer_group, e.attempt]), [["g", 1], ["g", 2], ["g", 3]])
        assert.match(errors[1]!.error, /^lease expired: not settled within the claim timeout of 1000 ms/)

        const ops = yield* Operations
        const [detail, ...more] = yield* ops.failedDetail(eventId)
        assert.strictEqual(more.length, 0)
        assert.strictEqual(detail!.group, "g")
        assert.strictEqual(detail!.type, "ops.Item")
        assert.strictEqual(detail!.routingKey, "k")
        assert.strictEqual(detail!.attempts, 3)
        assert.strictEqual(detail!.lastError, "third failure")
        assert.deepStrictEqual(detail!.payload, { _tag: "ops.Item", n: 7 })
        assert.strictEqual(detail!.metadata.source, "test")
        assert.strictEqual(detail!.failedAt.toISOString(), "2026-01-01T10:00:03.000Z")
        assert.strictEqual(detail!.createdAt.toISOString(), "2026-01-01T10:00:00.000Z")
        assert.deepStrictEqual(detail!.errors.map((e) => [e.attempt, e.error.slice(0, 13), e.at.toISOString()]), [
          [1, "first failure", "2026-01-01T10:00:00.000Z"],
          [2, "lease expired", "2026-01-01T10:00:02.000Z"],
          [3, "third failure", "2026-01-01T10:00:03.000Z"]
        ])
        assert.deepStrictEqual(yield* ops.failedDetail(eventId, "h"), [])
        assert.deepStrictEqual(yield* ops.failedDetail("999"), [])
        assert.deepStrictEqual(yield* ops.failedDetail("not-a-number"), [])
      }))

    it.effect("failed: lists dead letters newest first, filtered by group, type and limit", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* TestClock.setTime(Date.parse("2026-01-01T10:00:00Z"))
        yield* Runtime.registerGroup({ name: "g", eventType: "ops.Item" })
        yield* Runtime.registerGroup({ name: "o", eventType: "ops.Other" })
        yield* Outbox.emitAll([new Item({ n: 1 }), new Item({ n: 2 }), new Other({ n: 3 })])
        yield* settleAll("o", "failed", "other broke")
        yield* TestClock.adjust("1 minute")
        yield* settleAll("g", "failed", "item broke")
        const ops = yield* Operations
        const all = yield* ops.failed({})
        assert.deepStrictEqual(all.map((d) => [d.eventId, d.group, d.type, d.lastError]), [
          ["2", "g", "ops.Item", "item broke"],
          ["1", "g", "ops.Item", "item broke"],
          ["3", "o", "ops.Other", "other broke"]
        ])
        assert.deepStrictEqual((yield* ops.failed({ group: "o" })).map((d) => d.eventId), ["3"])
        assert.deepStrictEqual((yield* ops.failed({ type: "ops.Item" })).map((d) => d.eventId), ["2", "1"])
        assert.deepStrictEqual((yield* ops.failed({ type: "ops.Item", group: "o" })).length, 0)
        assert.deepStrictEqual((yield* ops.failed({ limit: 1 })).map((d) => d.eventId), ["2"])
      }))

    it.effect("retry and skip by refs and by selection (group, type, since); other states are left alone", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* TestClock.setTime(Date.parse("2026-01-01T10:00:00Z"))
        const sql = yield* SqlClient.SqlClient
        yield* sql`INSERT INTO sluice.consumer_groups VALUES ('g', 60000, 5, now())`
        yield* sql`INSERT INTO sluice.subscriptions VALUES ('g', 'ops.Item', NULL), ('g', 'ops.Other', NULL)`
        yield* Runtime.registerGroup({ name: "h", eventType: "ops.Item" })
        // events 1..4 Items, 5..6 Others; all fail in g at 10:00, 7 Item fails at 10:30
        yield* Outbox.emitAll([1, 2, 3, 4].map((n) => new Item({ n })))
        yield* Outbox.emitAll([5, 6].map((n) => new Other({ n })))
        yield* settleAll("g", "failed", "early")
        yield* settleAll("h", "failed", "h broke")
        yield* TestClock.adjust("30 minutes")
        yield* Outbox.emit(new Item({ n: 7 }))
        yield* settleAll("g", "failed", "late")
        yield* Outbox.emit(new Item({ n: 8 }))
        yield* settleAll("g", "delivered", null)

        const ops = yield* Operations
        // since 10:15: only event 7
        assert.strictEqual(yield* ops.retry({ group: "g", since: new Date(Date.parse("2026-01-01T10:15:00Z")) }), 1)
        // Others of g
        assert.strictEqual(yield* ops.skip({ group: "g", type: "ops.Other" }), 2)
        // by refs: 1 of g, 1 of h, a delivered one (8), an unknown one, a bad id
        assert.strictEqual(
          yield* ops.retry([
            { eventId: "1", group: "g" },
            { eventId: "1", group: "h" },
            { eventId: "8", group: "g" },
            { eventId: "99", group: "g" },
            { eventId: "x", group: "g" }
          ]),
          2
        )
        assert.strictEqual(yield* ops.skip([{ eventId: "2", group: "g" }]), 1)

        const g = yield* Runtime.deliveries("g")
        assert.deepStrictEqual(g.map((row) => [row.event_id, row.status, row.attempts, row.last_error]), [
          ["1", "pending", 0, null],
          ["2", "skipped", 1, "early"],
          ["3", "failed", 1, "early"],
          ["4", "failed", 1, "early"],
          ["5", "skipped", 1, "early"],
          ["6", "skipped", 1, "early"],
          ["7", "pending", 0, null],
          ["8", "delivered", 1, null]
        ])
        const now = yield* nowDate
        assert.isTrue(
          g.filter((row) => row.status === "pending").every((row) => row.available_at.getTime() === now.getTime())
        )
        assert.deepStrictEqual(yield* Runtime.statusCounts("h"), { failed: 3, pending: 3 })

        // the rest of g by a whole-group selection
        assert.strictEqual(yield* ops.retry({ group: "g" }), 2)
        assert.deepStrictEqual(yield* Runtime.statusCounts("g"), { pending: 4, skipped: 3, delivered: 1 })
        // the history stays
        assert.strictEqual((yield* errorRows).filter((row) => row.consumer_group === "g").length, 7)
      }))

    it.effect("bulk retry of a selection larger than one batch moves every row once", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* TestClock.setTime(Date.parse("2026-01-01T10:00:00Z"))
        yield* register("g")
        yield* Outbox.emitAll(Array.from({ length: 2_345 }, (_, n) => new Item({ n })))
        yield* settleAll("g", "failed", "boom")
        const ops = yield* Operations
        assert.strictEqual(yield* ops.retry({ group: "g", type: "ops.Item" }), 2_345)
        assert.deepStrictEqual(yield* Runtime.statusCounts("g"), { pending: 2_345 })
        assert.strictEqual(yield* ops.retry({ group: "g" }), 0)
      }))

    it.scoped("retry wakes a running pool: the dead letter is then delivered, without the clock moving", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* TestClock.setTime(Date.parse("2026-01-01T10:00:00Z"))
        const broken = yield* Ref.make(true)
        const attempts = yield* Ref.make(0)
        yield* Runtime.startPool([
          Handler.make({
            name: "flaky",
            event: Item,
            maxAttempts: 2,
            retry: Schedule.spaced(Duration.zero),
            handle: () =>
              Effect.gen(function*() {
                yield* Ref.update(attempts, (n) => n + 1)
                if (yield* Ref.get(broken)) return yield* Effect.fail(new Error("downstream is down"))
              })
          })
        ])
        yield* Outbox.emit(new Item({ n: 1 }))
        const [dead] = yield* Runtime.waitUntil(
          "a dead letter",
          Runtime.deliveries("flaky"),
          (rows) => rows[0]?.status === "failed"
        )
        assert.strictEqual(dead!.attempts, 2)
        const ops = yield* Operations
        const [detail] = yield* ops.failedDetail(dead!.event_id)
        assert.deepStrictEqual(detail!.errors.map((e) => e.attempt), [1, 2])
        assert.include(detail!.errors[0]!.error, "downstream is down")

        yield* Ref.set(broken, false)
        assert.strictEqual(yield* ops.retry([{ eventId: dead!.event_id, group: "flaky" }]), 1)
        const [row] = yield* Runtime.waitUntil(
          "the retried delivery delivered",
          Runtime.deliveries("flaky"),
          (rows) => rows[0]?.status === "delivered"
        )
        assert.strictEqual(row!.attempts, 1)
        assert.strictEqual(yield* Ref.get(attempts), 3)
        assert.deepStrictEqual(yield* ops.failed({}), [])
      }))

    it.scoped("replay delivers events emitted before the group registered, and again those it already handled", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* TestClock.setTime(Date.parse("2026-01-01T10:00:00Z"))
        // 5 Items before anyone subscribes, one of them keyed "other", and an Other
        yield* Outbox.emitAll([1, 2, 3, 4].map((n) => new Item({ n })))
        yield* Outbox.emit(new Item({ n: 5 }), { routingKey: "other" })
        yield* Outbox.emit(new Other({ n: 6 }))
        yield* TestClock.adjust("1 hour")
        yield* Outbox.emit(new Item({ n: 7 }))
        const seen = yield* Ref.make<ReadonlyArray<number>>([])
        yield* Runtime.startPool([
          Handler.make({
            name: "late",
            event: Item,
            routingKey: ["main"],
            handle: (event) => Ref.update(seen, (list) => [...list, event.n])
          })
        ])
        // registered now: nothing old reaches it on its own
        assert.deepStrictEqual(yield* Runtime.deliveries("late"), [])
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE sluice.events SET routing_key = 'main' WHERE routing_key IS NULL`

        const ops = yield* Operations
        const reports: Array<readonly [number, number]> = []
        const queued = yield* ops.replay(
          { group: "late", type: "ops.Item", since: new Date(Date.parse("2026-01-01T09:00:00Z")), batchSize: 2 },
          (done, total) => Effect.sync(() => void reports.push([done, total]))
        )
        assert.strictEqual(queued, 5)
        assert.deepStrictEqual(reports, [[2, 5], [4, 5], [5, 5]])
        yield* Runtime.waitUntil(
          "the replayed events delivered",
          Runtime.deliveries("late"),
          (rows) => rows.length === 5 && rows.every((row) => row.status === "delivered")
        )
        assert.deepStrictEqual([...(yield* Ref.get(seen))].sort(), [1, 2, 3, 4, 7])

        // again, since 10:30: only event 7, already delivered, goes back to pending and is handled again
        assert.strictEqual(
          yield* ops.replay({ group: "late", type: "ops.Item", since: new Date(Date.parse("2026-01-01T10:30:00Z")) }),
          1
        )
        yield* Runtime.waitUntil(
          "event 7 handled twice",
          Ref.get(seen),
          (list) => list.filter((n) => n === 7).length === 2
        )
        const errors = yield* ops.replay({ group: "nobody", type: "ops.Item", since: new Date(0) }).pipe(Effect.flip)
        assert.include(errors.message, "no consumer group named nobody")
        const unsubscribed = yield* ops.replay({ group: "late", type: "ops.Other", since: new Date(0) }).pipe(
          Effect.flip
        )
        assert.include(unsubscribed.message, "late does not subscribe to ops.Other (it takes ops.Item)")
      }))

    it.effect("replay keys its deliveries only for a group that takes turns between routing keys", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* Outbox.emit(new Item({ n: 1 }), { routingKey: "a" })
        yield* Outbox.emit(new Item({ n: 2 }))
        yield* Runtime.registerGroup({ name: "in-turns", eventType: "ops.Item", interleave: true })
        yield* Runtime.registerGroup({ name: "in-order", eventType: "ops.Item" })
        const ops = yield* Operations
        for (const group of ["in-turns", "in-order"]) {
          assert.strictEqual(yield* ops.replay({ group, type: "ops.Item", since: new Date(0) }), 2)
        }
        assert.deepStrictEqual(yield* Runtime.routingKeys("in-order"), [null, null])
        assert.deepStrictEqual(yield* Runtime.routingKeys("in-turns"), ["a", ""])
      }))

    it.effect("prune deletes old settled deliveries with their errors, in batches, reporting progress", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* TestClock.setTime(Date.parse("2026-01-01T10:00:00Z"))
        yield* register("g")
        yield* Outbox.emitAll(Array.from({ length: 25 }, (_, n) => new Item({ n })))
        yield* settleAll("g", "pending", "first try failed")
        yield* settleAll("g", "delivered", null)
        yield* Outbox.emit(new Item({ n: 99 }))
        yield* settleAll("g", "failed", "dead")
        assert.strictEqual((yield* errorRows).length, 26)

        const ops = yield* Operations
        const progress: Array<number> = []
        const record = (deleted: number) => Effect.sync(() => void progress.push(deleted))
        assert.strictEqual(yield* ops.prune({ olderThanMs: 3_600_000, batchSize: 10 }, record), 0)
        yield* TestClock.adjust("2 hours")
        // the 25 deliveries, then their 25 events, 10 rows per statement
        assert.strictEqual(yield* ops.prune({ olderThanMs: 3_600_000, batchSize: 10 }, record), 50)
        assert.deepStrictEqual(progress, [0, 0, 10, 20, 25, 35, 45, 50])
        // the dead letter stays, with its event and its error
        assert.deepStrictEqual(yield* Runtime.statusCounts("g"), { failed: 1 })
        assert.deepStrictEqual((yield* errorRows).map((row) => [row.event_id, row.error]), [["26", "dead"]])
      }))

    it.scoped("tail follows events committed from now on, of one type, in order", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* Outbox.emit(new Item({ n: -1 }))
        const ops = yield* Operations
        const collected = yield* ops.tail({ type: "ops.Item", pollInterval: "20 millis" }).pipe(
          Stream.take(5),
          Stream.runCollect,
          TestServices.provideLive,
          Effect.fork
        )
        // keep emitting until the tail has seen five Items (it starts whenever the fork runs)
        const emitter = yield* Effect.gen(function*() {
          for (let n = 0;; n++) {
            yield* Outbox.emitAll([new Other({ n }), new Item({ n })])
            yield* Runtime.liveSleep("10 millis")
          }
        }).pipe(Effect.fork)
        const rows = Chunk.toReadonlyArray(yield* Fiber.join(collected).pipe(Effect.timeout("20 seconds")))
        yield* Fiber.interrupt(emitter)
        assert.isTrue(rows.every((row) => row.type === "ops.Item"))
        const numbers = rows.map((row) => (row.payload as { n: number }).n)
        assert.isTrue(numbers[0]! >= 0, `the Item committed before the tail started is not in it: ${numbers}`)
        assert.deepStrictEqual(numbers, [0, 1, 2, 3, 4].map((i) => numbers[0]! + i))
        const ids = rows.map((row) => Number(row.id))
        assert.deepStrictEqual(ids, [...ids].sort((a, b) => a - b))
      }))

    it.effect("ids are ordered as numbers: where a tail starts, what a bulk change returns", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* register("g")
        yield* Outbox.emitAll(Array.from({ length: 12 }, (_, n) => new Item({ n })))
        const store = yield* OperationsStore.OperationsStore
        const head = yield* Runtime.waitUntil("the events to be visible", store.head, (head) => head.id !== "0")
        assert.strictEqual(head.id, "12", "not 9, the largest id as text")
        yield* settleAll("g", "failed", "dead")
        const now = yield* nowDate
        const target = {
          _tag: "Filter",
          group: "g",
          type: null,
          since: null,
          afterId: "0",
          until: now,
          limit: 100
        } as const
        const ids = Array.from({ length: 12 }, (_, n) => String(n + 1))
        // The last id is where the next batch of a bulk change starts.
        assert.deepStrictEqual(yield* store.skip(target, now), ids)
      }).pipe(Effect.provide(OperationsStore.layer)))

    it.effect("committedBefore tells a snapshot's committed transactions from those still running", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const sql = yield* SqlClient.SqlClient
        yield* Outbox.emit(new Item({ n: 1 }))
        const emitted = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const open = yield* sql.withTransaction(Effect.gen(function*() {
          yield* Outbox.emit(new Item({ n: 2 }))
          yield* Deferred.succeed(emitted, undefined)
          yield* Deferred.await(release)
        })).pipe(Effect.fork)
        yield* Deferred.await(emitted)
        const [current] = yield* sql<{ snapshot: string }>`SELECT pg_current_snapshot()::text AS snapshot`
        const snapshot = current!.snapshot
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(open)
        yield* Outbox.emit(new Item({ n: 3 }))
        const rows = yield* sql<{ n: number; tx: string }>`
          SELECT (payload->>'n')::int AS n, tx::text AS tx FROM sluice.events ORDER BY id`
        const before = OperationsLayer.committedBefore(snapshot)
        assert.deepStrictEqual(rows.map((row) => [row.n, before(row.tx)]), [[1, true], [2, false], [3, false]])
      }))
  })
})
