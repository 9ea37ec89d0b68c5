/**
 * Bad input and misuse end as typed, readable outcomes, and the claim loop goes on with
 * the next events: payloads that do not fit the schema, very large payloads, payloads
 * written by an older version of a schema, handlers that throw before returning an
 * Effect, die, or never return.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Event from "../../src/runtime/Event.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import { Store } from "../../src/runtime/Store.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

class Ping extends Event.Class<Ping>()("test.Ping", { n: Schema.Number }) {}

/** Writes an event row by hand, as another program (or an older version) would have. */
const insertRaw = (type: string, payload: string, group: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`WITH e AS (
          INSERT INTO sluice.events (type, payload, created_at, available_at)
          VALUES (${type}, ${payload}::jsonb, '1970-01-01', '1970-01-01') RETURNING id)
        INSERT INTO sluice.deliveries (event_id, consumer_group, status, available_at, updated_at)
        SELECT id, ${group}, 'pending', '1970-01-01', '1970-01-01' FROM e`)

const settled = (group: string, total: number) =>
  Runtime.waitUntil(
    `${total} settled deliveries of ${group}`,
    Runtime.deliveries(group),
    (rows) => rows.length === total && rows.every((row) => row.status !== "pending" && row.status !== "claimed")
  )

describe("Bad input", () => {
  it.layer(Runtime.layer)((it) => {
    it.scoped("payloads that do not fit the schema fail permanently at once, each naming why; good ones pass", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const handled: Array<number> = []
        yield* Runtime.startPool([
          Handler.make({
            name: "pings",
            event: Ping,
            batchSize: 10,
            handle: (event) => Effect.sync(() => handled.push(event.n))
          })
        ])
        const malformed: ReadonlyArray<readonly [payload: string, expected: string]> = [
          ["null", "Expected test.Ping (Encoded side), actual null"],
          ["\"just a string\"", "actual \"just a string\""],
          ["[1, 2]", "actual [1,2]"],
          ["{\"n\": 1}", "[\"_tag\"]\n         └─ is missing"],
          ["{\"_tag\": \"test.Other\", \"n\": 1}", "Expected \"test.Ping\", actual \"test.Other\""],
          ["{\"_tag\": \"test.Ping\"}", "[\"n\"]\n         └─ is missing"],
          ["{\"_tag\": \"test.Ping\", \"n\": {\"$gt\": 0}}", "Expected number, actual {\"$gt\":0}"],
          ["{\"_tag\": \"test.Ping\", \"n\": \"1; DROP TABLE x\"}", "actual \"1; DROP TABLE x\""]
        ]
        for (const [payload] of malformed) yield* insertRaw("test.Ping", payload, "pings")
        yield* Outbox.emitAll([new Ping({ n: 1 }), new Ping({ n: 2 })])
        const rows = yield* settled("pings", malformed.length + 2)
        for (const [i, [, expected]] of malformed.entries()) {
          const row = rows[i]!
          assert.strictEqual(row.status, "failed")
          assert.strictEqual(row.attempts, 1, "no retry of a payload that can never decode")
          assert.include(row.last_error, `cannot decode test.Ping event ${row.event_id}: `)
          assert.include(row.last_error, expected)
        }
        assert.deepStrictEqual(rows.slice(-2).map((row) => row.status), ["delivered", "delivered"])
        assert.deepStrictEqual(handled.sort(), [1, 2])
      }))

    it.scoped("a batch handler never sees undecodable or foreign events; they fail beside its own outcomes", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        // Written before the pool starts: its first claim takes them all in one batch.
        yield* insertRaw("test.Ping", "{\"_tag\": \"test.Ping\", \"n\": 1}", "batcher")
        yield* insertRaw("test.Unknown", "{\"_tag\": \"test.Unknown\"}", "batcher")
        yield* insertRaw("test.Ping", "{\"_tag\": \"test.Ping\", \"n\": \"two\"}", "batcher")
        yield* insertRaw("test.Ping", "{\"_tag\": \"test.Ping\", \"n\": 2}", "batcher")
        const batches: Array<ReadonlyArray<number>> = []
        yield* Runtime.startPool([
          Handler.make({
            name: "batcher",
            event: Ping,
            batchSize: 10,
            handleBatch: (deliveries) =>
              Effect.sync(() => {
                batches.push(deliveries.map((d) => d.event.n))
                return Handler.outcomes(deliveries.map((d) =>
                  d.event.n === 2 ? Handler.Outcome.skipped("two is skipped") : Handler.Outcome.succeeded
                ))
              })
          })
        ])
        const rows = yield* settled("batcher", 4)
        assert.deepStrictEqual(rows.map((row) => row.status), ["delivered", "failed", "failed", "skipped"])
        assert.include(rows[1]!.last_error, "unknown event type \"test.Unknown\" for handler \"batcher\"")
        assert.include(rows[2]!.last_error, "cannot decode test.Ping event 3")
        assert.strictEqual(rows[3]!.last_error, "two is skipped")
        assert.deepStrictEqual(batches.flat().sort(), [1, 2])
      }))

    it.scoped("an 8 MB payload goes through emit, claim, decode and acknowledgement intact", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        class Blob extends Event.Class<Blob>()("test.Blob", { body: Schema.String, n: Schema.Number }) {}
        const body = "é📦x".repeat(2 * 1024 * 1024)
        const received: Array<{ n: number; length: number; same: boolean }> = []
        yield* Runtime.startPool([
          Handler.make({
            name: "blobs",
            event: Blob,
            handle: (event) =>
              Effect.sync(() => received.push({ n: event.n, length: event.body.length, same: event.body === body }))
          })
        ])
        yield* Outbox.emitAll([new Blob({ body, n: 1 }), new Blob({ body: "small", n: 2 })])
        yield* settled("blobs", 2)
        const [first, second] = received.sort((a, b) => a.n - b.n)
        assert.deepStrictEqual(first, { n: 1, length: body.length, same: true })
        assert.deepStrictEqual(second, { n: 2, length: 5, same: false })
        const sql = yield* SqlClient.SqlClient
        const [size] = yield* sql<{ bytes: number }>`
          SELECT octet_length(payload->>'body')::int AS bytes FROM sluice.events WHERE type = 'test.Blob' ORDER BY id LIMIT 1`
        assert.strictEqual(size!.bytes, Buffer.byteLength(body))
      }))

    it.scoped("schema evolution: a required field added since, or a renamed one, fails clearly; optional/default and fromKey read old payloads", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        // Version 1 of the event, as an older deploy emitted it.
        class OrderV1 extends Event.Class<OrderV1>()("shop.Order", { id: Schema.String, title: Schema.String }) {}
        // Version 2 added `currency` and renamed `title` to `name`, carelessly...
        class OrderStrict extends Event.Class<OrderStrict>()("shop.Order", {
          id: Schema.String,
          name: Schema.String,
          currency: Schema.String
        }) {}
        // ...or compatibly: a default for the new field, the stored key kept for the renamed one.
        class OrderCompatible extends Event.Class<OrderCompatible>()("shop.Order", {
          id: Schema.String,
          name: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("title")),
          currency: Schema.optionalWith(Schema.String, { default: () => "EUR" })
        }) {}
        const seen: Array<OrderCompatible> = []
        yield* Runtime.startPool([
          Handler.make({ name: "strict", event: OrderStrict, handle: () => Effect.void }),
          Handler.make({
            name: "compatible",
            event: OrderCompatible,
            handle: (order) => Effect.sync(() => seen.push(order))
          })
        ])
        yield* Outbox.emit(new OrderV1({ id: "o-1", title: "Tea" }))
        yield* Outbox.emit(new OrderCompatible({ id: "o-2", name: "Cake", currency: "CHF" }))

        const strict = yield* settled("strict", 2)
        assert.deepStrictEqual(strict.map((row) => [row.status, row.attempts]), [["failed", 1], ["failed", 1]])
        assert.include(strict[0]!.last_error, "cannot decode shop.Order event 1")
        assert.include(strict[0]!.last_error, "[\"name\"]")
        assert.include(strict[0]!.last_error, "[\"currency\"]")
        assert.strictEqual(
          strict[0]!.last_error!.split("is missing").length - 1,
          2,
          "both problems, not just the first"
        )
        // The compatible version also writes `title`, so the strict reader misses `name` there too.
        assert.include(strict[1]!.last_error, "[\"name\"]")

        const compatible = yield* settled("compatible", 2)
        assert.deepStrictEqual(compatible.map((row) => row.status), ["delivered", "delivered"])
        assert.deepStrictEqual(
          seen.map((order) => [order.id, order.name, order.currency]).sort(),
          [["o-1", "Tea", "EUR"], ["o-2", "Cake", "CHF"]]
        )
        const sql = yield* SqlClient.SqlClient
        const payloads = yield* sql<{ payload: unknown }>`SELECT payload FROM sluice.events ORDER BY id`
        assert.deepStrictEqual(payloads.map((row) => row.payload), [
          { _tag: "shop.Order", id: "o-1", title: "Tea" },
          { _tag: "shop.Order", id: "o-2", title: "Cake", currency: "CHF" }
        ])
      }))

    it.scoped("a handler that throws before returning an Effect fails that delivery only, with the message", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const thrower = (event: Ping): Effect.Effect<void> => {
          if (event.n === 1) throw new Error("thrown synchronously")
          return Effect.void
        }
        yield* Runtime.startPool([
          Handler.make({ name: "single", event: Ping, maxAttempts: 1, batchSize: 5, handle: thrower }),
          Handler.make({
            name: "batch",
            event: Ping,
            maxAttempts: 1,
            handleBatch: (deliveries) => {
              if (deliveries.some((d) => d.event.n === 1)) throw new TypeError("batch thrown synchronously")
              return Effect.void
            }
          })
        ])
        yield* Outbox.emitAll([new Ping({ n: 1 }), new Ping({ n: 2 }), new Ping({ n: 3 })])
        for (const [group, message] of [["single", "thrown synchronously"], ["batch", "batch thrown synchronously"]]) {
          const rows = yield* settled(group!, 3)
          assert.deepStrictEqual(rows.map((row) => [row.status, row.attempts]), [["failed", 1], ["delivered", 1], [
            "delivered",
            1
          ]], group)
          assert.include(rows[0]!.last_error, message!)
          assert.notInclude(rows[0]!.last_error, "lease expired", "recorded by the loop, not left to the reaper")
        }
      }))

    it.scoped("a handler that dies (Effect.die with any value) is retried with a readable error", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* Runtime.startPool([
          Handler.make({
            name: "dying",
            event: Ping,
            maxAttempts: 2,
            handle: (event) =>
              event.n === 1
                ? Effect.die({ code: 42, reason: "not an Error" })
                : event.n === 2
                ? Effect.dieMessage("invariant broken: negative stock")
                : Effect.void
          })
        ])
        yield* Outbox.emitAll([1, 2, 3].map((n) => new Ping({ n })))
        const rows = yield* Runtime.waitUntil(
          "each death recorded",
          Runtime.deliveries("dying"),
          (rows) => rows.length === 3 && rows.every((row) => row.status !== "claimed" && row.attempts >= 1)
        )
        assert.deepStrictEqual(rows.map((row) => row.status), ["pending", "pending", "delivered"])
        assert.include(rows[0]!.last_error, "\"code\":42")
        assert.include(rows[0]!.last_error, "not an Error")
        assert.include(rows[1]!.last_error, "invariant broken: negative stock")
      }))

    it.scoped("misuse: a batch handler returning the wrong number of outcomes, and a huge error message", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* Runtime.startPool([
          Handler.make({
            name: "miscounted",
            event: Ping,
            batchSize: 3,
            maxAttempts: 1,
            handleBatch: () => Effect.succeed(Handler.outcomes([Handler.Outcome.succeeded]))
          }),
          Handler.make({
            name: "verbose",
            event: Ping,
            maxAttempts: 1,
            handle: () => Effect.fail(new Error("x".repeat(100_000)))
          })
        ])
        yield* Outbox.emitAll([1, 2, 3].map((n) => new Ping({ n })))
        const miscounted = yield* settled("miscounted", 3)
        for (const row of miscounted) {
          assert.strictEqual(row.status, "failed")
          assert.include(row.last_error, "handleBatch returned 1 outcomes for 3 deliveries")
        }
        const verbose = yield* settled("verbose", 3)
        for (const row of verbose) {
          assert.strictEqual(row.status, "failed")
          assert.isAtMost(row.last_error!.length, 8_100, "last_error is bounded")
          assert.include(row.last_error, "…")
        }
      }))

    it.effect("misuse: emitting a non-event, or an event JSON cannot carry (NaN, bigint, Date), is a typed error", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const plain = { _tag: "test.Ping", n: 1 } as unknown as Ping
        const error = yield* Effect.flip(Outbox.emit(plain))
        assert.strictEqual(error._tag, "EmitFailed")
        assert.strictEqual(error.reason, "encode")
        assert.include(error.message, "not an event: emit takes instances of an Event.Class")
        // Encoded values JSON cannot carry are refused at emit, not turned into poison events.
        class Big extends Event.Class<Big>()("test.BigInt", { n: Schema.BigIntFromSelf }) {}
        class When extends Event.Class<When>()("test.When", { at: Schema.DateFromSelf }) {}
        class Nested extends Event.Class<Nested>()("test.Nested", { xs: Schema.Array(Schema.Number) }) {}
        const cases: ReadonlyArray<readonly [Event.EventInstance, string]> = [
          [new Ping({ n: Number.NaN }), "[\"n\"] is NaN, which JSON stores as null"],
          [new Ping({ n: Infinity }), "[\"n\"] is Infinity"],
          [new Big({ n: 1n }), "[\"n\"] is a bigint, which JSON cannot store"],
          [new When({ at: new Date(0) }), "[\"at\"] is a Date"],
          [new Nested({ xs: [1, 2, -Infinity] }), "[\"xs\"][2] is -Infinity"]
        ]
        for (const [event, expected] of cases) {
          const failed = yield* Effect.flip(Outbox.emit(event))
          assert.strictEqual(failed._tag, "EmitFailed")
          assert.strictEqual(failed.reason, "encode")
          assert.strictEqual(failed.eventType, event._tag)
          assert.include(failed.message, `cannot encode ${event._tag}: `)
          assert.include(failed.message, expected)
        }
        const sql = yield* SqlClient.SqlClient
        const [count] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM sluice.events`
        assert.strictEqual(count!.n, 0)
      }))

    it.scoped("a handler that interrupts itself fails its delivery; the claim loop does not stop", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* Runtime.startPool([
          Handler.make({
            name: "quitter",
            event: Ping,
            maxAttempts: 1,
            handle: (event) =>
              event.n === 1
                ? Effect.interrupt
                : event.n === 2
                ? Effect.flatMap(Effect.fork(Effect.never), (fiber) =>
                  Effect.zipRight(Fiber.interrupt(fiber), Fiber.join(fiber)))
                : Effect.void
          })
        ])
        yield* Outbox.emitAll([1, 2, 3].map((n) => new Ping({ n })))
        const rows = yield* settled("quitter", 3)
        assert.deepStrictEqual(rows.map((row) => row.status), ["failed", "failed", "delivered"])
        assert.include(rows[0]!.last_error, "interrupted")
        // The loop is alive: a later event is handled too.
        yield* Outbox.emit(new Ping({ n: 4 }))
        const later = yield* settled("quitter", 4)
        assert.strictEqual(later[3]!.status, "delivered")
      }))

    it.scoped("a handler that never returns: its timeout fails the attempt, the loop goes on, retries follow", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* TestClock.setTime(0)
        const handled: Array<number> = []
        yield* Runtime.startPool([
          Handler.make({
            name: "stuck",
            event: Ping,
            timeout: "30 seconds",
            maxAttempts: 2,
            pollInterval: "1 second",
            handle: (event) => event.n === 1 ? Effect.never : Effect.sync(() => handled.push(event.n))
          })
        ], { notifications: { mode: "poll" } })
        yield* Outbox.emitAll([new Ping({ n: 1 }), new Ping({ n: 2 })])
        // Time passes in poll-sized steps; the stuck attempt times out after 30 s, event 2 follows.
        const rows = yield* Runtime.waitUntil(
          "event 2 handled after the stuck attempt timed out",
          Effect.zipLeft(Runtime.deliveries("stuck"), TestClock.adjust("1 second")),
          (rows) => rows.length === 2 && rows[1]!.status === "delivered",
          "30 seconds"
        )
        assert.strictEqual(rows[0]!.attempts >= 1, true)
        assert.include(rows[0]!.last_error, "handler \"stuck\" did not finish within its timeout of 30s")
        assert.deepStrictEqual(handled, [2])
        const final = yield* Runtime.waitUntil(
          "the stuck event dead-lettered after its second timeout",
          Effect.zipLeft(Runtime.deliveries("stuck"), TestClock.adjust("5 seconds")),
          (rows) => rows[0]!.status === "failed",
          "30 seconds"
        )
        assert.strictEqual(final[0]!.attempts, 2)
        assert.include(final[0]!.last_error, "did not finish within its timeout of 30s (gave up after 2 of 2 attempts)")
      }))

    it.scoped("a worker that died holding a lease: the reaper takes it back after claimTimeout, the pool handles it", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* TestClock.setTime(0)
        const handled: Array<number> = []
        const handler = Handler.make({
          name: "orphans",
          event: Ping,
          claimTimeout: "10 seconds",
          pollInterval: "1 second",
          handle: (event: Ping) => Effect.sync(() => handled.push(event.n))
        })
        yield* Runtime.registerGroup({ name: "orphans", eventType: "test.Ping", claimTimeoutMs: 10_000 })
        yield* Outbox.emit(new Ping({ n: 7 }))
        const store = yield* Store
        const claimed = yield* store.claim({
          group: "orphans",
          limit: 1,
          token: crypto.randomUUID(),
          now: new Date(0),
          fair: false
        })
        assert.strictEqual(claimed.length, 1)
        yield* Runtime.startPool([handler], { reapInterval: "1 second", notifications: { mode: "poll" } })
        const rows = yield* Runtime.waitUntil(
          "the orphaned delivery reaped and handled",
          Effect.zipLeft(Runtime.deliveries("orphans"), TestClock.adjust("1 second")),
          (rows) => rows[0]!.status === "delivered",
          "30 seconds"
        )
        assert.strictEqual(rows[0]!.attempts, 2, "the dead worker's attempt counts")
        assert.isAtLeast(yield* Clock.currentTimeMillis, 10_000, "not before the claim timeout")
        assert.deepStrictEqual(handled, [7])
      }))
  })
})
