import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Operations from "../../src/ops/OperationsStore.js"
import * as Event from "../../src/runtime/Event.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as Retention from "../../src/runtime/Retention.js"
import { type ClaimedRow, Store } from "../../src/runtime/Store.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

class Item extends Event.Class<Item>()("test.Item", { n: Schema.Number }) {}

const settleAll = (group: string, status: "delivered" | "skipped" | "failed") =>
  Effect.gen(function*() {
    const store = yield* Store
    const now = yield* Clock.currentTimeMillis
    const token = crypto.randomUUID()
    const rows = yield* store.claim({ group, limit: 10_000, token, now: new Date(now), fair: false })
    yield* store.settle(
      group,
      token,
      rows.map((row) => ({ event_id: row.event_id, status, available_at: null, last_error: null, release: false })),
      new Date(now)
    )
  })

/** Claims a group's next delivery under a fresh token. */
const claimOne = (group: string, now: Date) =>
  Effect.flatMap(Store, (store) => {
    const token = crypto.randomUUID()
    return Effect.map(store.claim({ group, limit: 1, token, now, fair: false }), ([row]) => ({ token, row: row! }))
  })

/** Records a held delivery's attempt as failed: to be retried (`pending`) or dead-lettered (`failed`). */
const failAttempt = (
  group: string,
  held: { readonly token: string; readonly row: ClaimedRow },
  status: "pending" | "failed",
  error: string,
  now: Date
) =>
  Effect.flatMap(Store, (store) =>
    store.settle(group, held.token, [{
      event_id: held.row.event_id,
      status,
      available_at: status === "pending" ? now : null,
      last_error: error,
      release: false
    }], now))

const register = (name: string) => Runtime.registerGroup({ name, eventType: "test.Item", routingKey: name })

const counts = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ events: number; deliveries: number }>`SELECT
      (SELECT count(*)::int FROM sluice.events) AS events,
      (SELECT count(*)::int FROM sluice.deliveries) AS deliveries`,
    (rows) => rows[0]!
  ))

/** Runs with the store recording where each call of a pruning statement started. */
const recordingStarts = (statement: "pruneDeliveries" | "pruneEvents", starts: Array<string>) =>
  Effect.updateService(Store, (store) => ({
    ...store,
    [statement]: (before: Date, limit: number, from: string) => {
      starts.push(from)
      return store[statement](before, limit, from)
    }
  }))

describe("Retention", () => {
  it.layer(Runtime.layer)((it) => {
    it.effect("prunes settled deliveries and unneeded events older than the retention, in bounded batches", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const t0 = yield* Clock.currentTimeMillis
        for (const group of ["done", "skipped", "dead", "waiting"]) yield* register(group)
        const emit = (routingKey: string, count: number) =>
          Outbox.emitAll(
            Array.from({ length: count }, (_, n) => ({ event: new Item({ n }), options: { routingKey } }))
          )
        yield* emit("done", 2_500)
        yield* emit("skipped", 3)
        yield* emit("dead", 2)
        yield* emit("waiting", 1)
        yield* emit("nobody", 4)
        yield* settleAll("done", "delivered")
        yield* settleAll("skipped", "skipped")
        yield* settleAll("dead", "failed")
        assert.deepStrictEqual(yield* counts, { events: 2_510, deliveries: 2_506 })

        yield* TestClock.setTime(t0 + 3_599_999)
        assert.deepStrictEqual(yield* Retention.pruneOnce("1 hour"), { deliveries: 0, events: 0 })

        yield* TestClock.setTime(t0 + 3_600_001)
        assert.deepStrictEqual(yield* Retention.pruneOnce("1 hour"), { deliveries: 2_503, events: 2_507 })
        // Kept: the dead letters with their events, and the delivery still pending.
        assert.deepStrictEqual(yield* counts, { events: 3, deliveries: 3 })
        assert.deepStrictEqual(yield* Runtime.statusCounts("dead"), { failed: 2 })
        assert.deepStrictEqual(yield* Runtime.statusCounts("waiting"), { pending: 1 })
      }))

    it.effect("a pass prunes a backlog many batches deep, each batch resuming where the last one stopped", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* TestDatabase.truncate
        const t0 = yield* Clock.currentTimeMillis
        for (const group of ["done", "waiting"]) yield* register(group)
        for (let second = 0; second < 30; second++) {
          yield* TestClock.setTime(t0 + second * 1_000)
          yield* Outbox.emit(new Item({ n: second }), { routingKey: "done" })
          yield* settleAll("done", "delivered")
        }
        yield* Outbox.emit(new Item({ n: 30 }), { routingKey: "waiting" })

        const froms: Array<string> = []
        const recording = recordingStarts("pruneDeliveries", froms)
        const batches: Array<number> = []
        const removed = yield* Retention.pruneBefore(
          new Date(t0 + 3_600_000),
          7,
          (n) => Effect.sync(() => void batches.push(n))
        ).pipe(recording)

        assert.deepStrictEqual(removed, { deliveries: 30, events: 30 })
        assert.deepStrictEqual(batches, [7, 7, 7, 7, 2, 7, 7, 7, 7, 2])
        const resumedAt = yield* Effect.forEach(froms.slice(1), (from) =>
          Effect.map(
            sql<{ ms: number }>`SELECT (extract(epoch FROM ${from}::timestamptz) * 1000)::float8 AS ms`,
            (rows) => rows[0]!.ms - t0
          ))
        assert.strictEqual(froms[0], "-infinity")
        assert.deepStrictEqual(
          resumedAt,
          [6_000, 13_000, 20_000, 27_000],
          "each batch starts at the last one's newest row"
        )
        assert.deepStrictEqual(yield* counts, { events: 1, deliveries: 1 })
        assert.deepStrictEqual(yield* Runtime.statusCounts("waiting"), { pending: 1 })
      }))

    it.effect("events go walking the log by id: an event dated ahead does not hold back older ones; a batch with none old ends the pass", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const t0 = yield* Clock.currentTimeMillis
        const before = new Date(t0 + 3_600_000)
        // ids 1-3 old, 4 dated a day ahead (an emitter's clock), 5-7 old, 8-20 younger than `before`
        const emitAt = (time: number, n: number) =>
          Effect.zipRight(TestClock.setTime(time), Outbox.emit(new Item({ n })))
        for (let n = 1; n <= 20; n++) {
          yield* emitAt(n === 4 ? t0 + 86_400_000 : n <= 7 ? t0 + n * 1_000 : t0 + 7_200_000 + n * 1_000, n)
        }
        const froms: Array<string> = []
        const recording = recordingStarts("pruneEvents", froms)
        const removed = yield* Retention.pruneBefore(before, 3).pipe(recording)
        assert.deepStrictEqual(removed, { deliveries: 0, events: 6 })
        // 1-3; 4-6 (4 kept); 7-9 (8, 9 young: later ids are younger still, but 7 was old); 10-12: none old, done
        assert.deepStrictEqual(froms, ["0", "3", "6", "9"])
        const sql = yield* SqlClient.SqlClient
        const left = yield* sql<{ n: number }>`SELECT (payload->>'n')::int AS n FROM sluice.events ORDER BY id`
        assert.deepStrictEqual(left.map((row) => row.n), [4, ...Array.from({ length: 13 }, (_, i) => i + 8)])
      }))

    it.effect("an acknowledgement that deletes is fenced by the claim token, and takes the error history along", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* register("acked")
        yield* Outbox.emitAll(
          Array.from({ length: 3 }, (_, n) => ({ event: new Item({ n }), options: { routingKey: "acked" } }))
        )
        const store = yield* Store
        const now = new Date(yield* Clock.currentTimeMillis)
        const token = crypto.randomUUID()
        const rows = yield* store.claim({ group: "acked", limit: 10, token, now, fair: false })
        const ids = rows.map((row) => row.event_id)
        assert.strictEqual(yield* store.acknowledge("acked", crypto.randomUUID(), ids, now, "delete"), 0)
        assert.deepStrictEqual(yield* Runtime.statusCounts("acked"), { claimed: 3 })
        assert.strictEqual(yield* store.acknowledge("acked", token, ids, now, "delete"), 3)
        assert.deepStrictEqual(yield* Runtime.statusCounts("acked"), {})
        assert.deepStrictEqual(yield* counts, { events: 3, deliveries: 0 }, "the events stay until pruning")
        const sql = yield* SqlClient.SqlClient
        yield* Outbox.emit(new Item({ n: 3 }), { routingKey: "acked" })
        const retried = yield* claimOne("acked", now)
        yield* failAttempt("acked", retried, "pending", "flaky", now)
        const history = sql<{ n: number }>`SELECT count(*)::int AS n FROM sluice.delivery_errors`
        assert.strictEqual((yield* history)[0]!.n, 1)
        const second = yield* claimOne("acked", now)
        assert.strictEqual(yield* store.acknowledge("acked", second.token, [retried.row.event_id], now, "delete"), 1)
        assert.strictEqual((yield* history)[0]!.n, 0, "a deleted delivery's error history goes with it")

        // A lease the reaper expired is history too.
        yield* Outbox.emit(new Item({ n: 5 }), { routingKey: "acked" })
        const abandoned = yield* claimOne("acked", now)
        const reaped = yield* store.reap(new Date(now.getTime() + 3_600_000), 10)
        assert.deepStrictEqual(reaped.map((row) => row.event_id), [abandoned.row.event_id])
        assert.strictEqual((yield* history)[0]!.n, 1)
        const resumed = yield* claimOne("acked", new Date(now.getTime() + 3_600_000))
        assert.strictEqual(yield* store.acknowledge("acked", resumed.token, [resumed.row.event_id], now, "delete"), 1)
        assert.strictEqual((yield* history)[0]!.n, 0, "also the history the reaper wrote")

        // A dead letter retried by an operator starts from attempt zero again, its history kept.
        yield* Outbox.emit(new Item({ n: 4 }), { routingKey: "acked" })
        const dead = yield* claimOne("acked", now)
        yield* failAttempt("acked", dead, "failed", "broken", now)
        const operations = yield* Operations.OperationsStore
        const target = { _tag: "Refs", refs: [{ event_id: dead.row.event_id, consumer_group: "acked" }] } as const
        assert.deepStrictEqual(yield* operations.retry(target, now), [dead.row.event_id])
        const again = yield* claimOne("acked", now)
        assert.strictEqual(again.row.attempts, 1)
        assert.strictEqual(yield* store.acknowledge("acked", again.token, [again.row.event_id], now, "delete"), 1)
        assert.strictEqual((yield* history)[0]!.n, 0, "also the history of an operator's retry, at its first attempt")
      }).pipe(Effect.provide(Operations.layer)))

    it.scoped("with a retention of zero, handled deliveries are deleted when acknowledged; failures are kept", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const handled = yield* Ref.make<ReadonlySet<number>>(new Set())
        yield* Runtime.startPool([
          Handler.make({
            name: "zero-retention",
            event: Item,
            routingKey: "zero",
            batchSize: 4,
            maxAttempts: 1,
            handle: (item) =>
              item.n === 7
                ? Effect.fail(new Handler.Permanent({ message: "seven" }))
                : Ref.update(handled, (seen) => new Set(seen).add(item.n))
          })
        ], { retention: 0, pruneInterval: "1 hour" })
        yield* Outbox.emitAll(
          Array.from({ length: 10 }, (_, n) => ({ event: new Item({ n }), options: { routingKey: "zero" } }))
        )
        const left = yield* Runtime.waitUntil(
          "all but the failure deleted",
          Runtime.statusCounts("zero-retention"),
          (counts) => counts.failed === 1 && Object.keys(counts).length === 1
        )
        assert.deepStrictEqual(left, { failed: 1 })
        assert.strictEqual((yield* Ref.get(handled)).size, 9)
      }))
  })
})
