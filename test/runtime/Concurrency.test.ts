import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Event from "../../src/runtime/Event.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import { Store } from "../../src/runtime/Store.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

class Job extends Event.Class<Job>()("test.Job", { n: Schema.Number }) {}

const reset = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* TestDatabase.truncate
  yield* sql`CREATE TABLE IF NOT EXISTS handled (n int NOT NULL, delivery_id text NOT NULL, attempt int NOT NULL)`
  yield* sql`TRUNCATE handled`
})

describe("Concurrency", () => {
  it.layer(Runtime.layer)((it) => {
    it.scoped("8 fibers over 5,000 events: every delivery handled exactly once", () =>
      Effect.gen(function*() {
        yield* reset
        const sql = yield* SqlClient.SqlClient
        yield* Runtime.startPool([
          Handler.make({
            name: "jobs",
            event: Job,
            batchSize: 25,
            concurrency: 8,
            handleBatch: (deliveries) =>
              sql`INSERT INTO handled ${
                sql.insert(deliveries.map((d) => ({ n: d.event.n, delivery_id: d.id, attempt: d.attempt })))
              }`
          })
        ])
        for (let start = 0; start < 5_000; start += 500) {
          yield* Outbox.emitAll(Array.from({ length: 500 }, (_, i) => new Job({ n: start + i })))
        }
        yield* Runtime.waitUntil(
          "all 5,000 delivered",
          Runtime.statusCounts("jobs"),
          (counts) => counts.delivered === 5_000,
          "60 seconds"
        )
        const [totals] = yield* sql<{ total: number; distinct_n: number; retried: number }>`
          SELECT count(*)::int AS total, count(DISTINCT n)::int AS distinct_n,
                 count(*) FILTER (WHERE attempt > 1)::int AS retried
          FROM handled`
        assert.deepStrictEqual(totals, { total: 5_000, distinct_n: 5_000, retried: 0 })
      }))

    it.scoped("three workers racing for one event: one wins", () =>
      Effect.gen(function*() {
        yield* reset
        const store = yield* Store
        for (let round = 0; round < 20; round++) {
          yield* TestDatabase.truncate
          yield* Runtime.registerGroup({ name: "race", eventType: "test.Job", maxAttempts: 3 })
          yield* Outbox.emit(new Job({ n: round }))
          const now = new Date(yield* Clock.currentTimeMillis)
          const claims = yield* Effect.all(
            [1, 2, 3].map(() =>
              store.claim({ group: "race", limit: 10, token: crypto.randomUUID(), now, fair: false })
            ),
            { concurrency: "unbounded" }
          )
          assert.deepStrictEqual(claims.map((rows) => rows.length).sort(), [0, 0, 1], `round ${round}`)
        }
      }))

    it.scoped("pools racing over one group: a loser's acknowledgement cannot overwrite the winner's", () =>
      Effect.gen(function*() {
        yield* reset
        const store = yield* Store
        yield* Runtime.registerGroup({ name: "fenced", eventType: "test.Job", claimTimeoutMs: 1_000 })
        yield* Outbox.emit(new Job({ n: 1 }))
        const t0 = yield* Clock.currentTimeMillis
        const stale = crypto.randomUUID()
        yield* store.claim({ group: "fenced", limit: 1, token: stale, now: new Date(t0), fair: false })
        const [reaped] = yield* store.reap(new Date(t0 + 1_000), 10)
        assert.strictEqual(reaped?.status, "pending")
        const fresh = crypto.randomUUID()
        const [row] = yield* store.claim({
          group: "fenced",
          limit: 1,
          token: fresh,
          now: new Date(t0 + 1_000),
          fair: false
        })
        const outcome = {
          event_id: row!.event_id,
          status: "delivered",
          available_at: null,
          last_error: null,
          release: false
        } as const
        assert.strictEqual(yield* store.settle("fenced", stale, [outcome], new Date(t0 + 1_001)), 0)
        assert.strictEqual(yield* store.heartbeat("fenced", stale, [row!.event_id], new Date(t0 + 1_001)), 0)
        assert.strictEqual(yield* store.settle("fenced", fresh, [outcome], new Date(t0 + 1_002)), 1)
        const [final] = yield* Runtime.deliveries("fenced")
        assert.deepStrictEqual([final!.status, final!.attempts], ["delivered", 2])
      }))

    it.scoped("due time picks a batch, event id orders it", () =>
      Effect.gen(function*() {
        yield* reset
        const store = yield* Store
        yield* Runtime.registerGroup({ name: "ordered", eventType: "test.Job", maxAttempts: 3 })
        const t0 = yield* Clock.currentTimeMillis
        yield* Outbox.emitAll([
          { event: new Job({ n: 1 }), options: { deliverAfter: "2 seconds" } },
          { event: new Job({ n: 2 }), options: { deliverAfter: "1 second" } },
          new Job({ n: 3 }),
          { event: new Job({ n: 4 }), options: { deliverAfter: "3 seconds" } }
        ])
        const claim = (fair: boolean) =>
          store.claim({ group: "ordered", limit: 3, token: crypto.randomUUID(), now: new Date(t0 + 5_000), fair })
        const batch = yield* claim(false)
        assert.deepStrictEqual(batch.map((row) => (row.payload as { n: number }).n), [1, 2, 3])
        const ids = batch.map((row) => BigInt(row.event_id))
        assert.isTrue(ids[0]! < ids[1]! && ids[1]! < ids[2]!)
        assert.deepStrictEqual((yield* claim(true)).map((row) => (row.payload as { n: number }).n), [4])
      }))

    it.scoped("interleaved claims: a flood on one routing key cannot starve another key", () =>
      Effect.gen(function*() {
        yield* reset
        const store = yield* Store
        yield* Runtime.registerGroup({ name: "fair", eventType: "test.Job", maxAttempts: 3, interleave: true })
        yield* Outbox.emitAll(
          Array.from({ length: 300 }, (_, n) => ({ event: new Job({ n }), options: { routingKey: "flood" } }))
        )
        yield* Outbox.emit(new Job({ n: 1_000 }), { routingKey: "trickle" })
        yield* Outbox.emit(new Job({ n: 1_001 }))
        const now = new Date(yield* Clock.currentTimeMillis)
        const inOrder = yield* store.claim({ group: "fair", limit: 10, token: crypto.randomUUID(), now, fair: false })
        assert.isTrue(inOrder.every((row) => row.routing_key === "flood"))
        const fair = yield* store.claim({ group: "fair", limit: 10, token: crypto.randomUUID(), now, fair: true })
        assert.strictEqual(fair.length, 10)
        const keys = fair.map((row) => row.routing_key)
        assert.include(keys, "trickle")
        assert.include(keys, null)
        assert.strictEqual(keys.filter((key) => key === "flood").length, 8)
      }))

    it.scoped("only an interleaving group's deliveries carry a routing key", () =>
      Effect.gen(function*() {
        yield* reset
        yield* Runtime.registerGroup({ name: "in-order", eventType: "test.Job" })
        yield* Runtime.registerGroup({ name: "in-turns", eventType: "test.Job", interleave: true })
        yield* Outbox.emitAll([{ event: new Job({ n: 1 }), options: { routingKey: "a" } }, new Job({ n: 2 })])
        assert.deepStrictEqual(yield* Runtime.routingKeys("in-order"), [null, null])
        assert.deepStrictEqual(yield* Runtime.routingKeys("in-turns"), ["a", ""])
      }))

    it.scoped("a group that starts interleaving takes turns over its earlier deliveries too", () =>
      Effect.gen(function*() {
        yield* reset
        const sql = yield* SqlClient.SqlClient
        const store = yield* Store
        yield* Runtime.registerGroup({ name: "switch", eventType: "test.Job" })
        yield* Outbox.emitAll(
          Array.from({ length: 30 }, (_, n) => ({ event: new Job({ n }), options: { routingKey: "flood" } }))
        )
        yield* Outbox.emit(new Job({ n: 100 }), { routingKey: "trickle" })
        yield* Outbox.emit(new Job({ n: 101 }))
        yield* Runtime.registerGroup({ name: "switch", eventType: "test.Job", interleave: true })
        const now = new Date(yield* Clock.currentTimeMillis)
        const claim = (limit: number) =>
          Effect.map(
            store.claim({ group: "switch", limit, token: crypto.randomUUID(), now, fair: true }),
            (rows) => rows.map((row) => (row.payload as { n: number }).n)
          )
        const first = yield* claim(3)
        assert.deepStrictEqual([...first].sort((a, b) => a - b), [0, 100, 101], "the registration gave them keys")

        // An emit that raced the registration wrote a delivery without a key: it fills what the keys leave.
        yield* sql`
          UPDATE sluice.deliveries SET routing_key = NULL
          WHERE consumer_group = 'switch' AND event_id = (
            SELECT event_id FROM sluice.deliveries WHERE consumer_group = 'switch' AND status = 'pending'
            ORDER BY event_id DESC LIMIT 1)`
        const second = yield* claim(20)
        assert.deepStrictEqual(second, Array.from({ length: 20 }, (_, i) => i + 1), "the keys fill the batch")
        assert.deepStrictEqual(yield* claim(20), [21, 22, 23, 24, 25, 26, 27, 28, 29], "then it comes after them")
      }))
  })
})
