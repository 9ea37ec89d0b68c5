import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import pg from "pg"
import * as Event from "../../src/runtime/Event.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import { Store } from "../../src/runtime/Store.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

class Ping extends Event.Class<Ping>()("test.Ping", { n: Schema.Number }) {}
class Dated extends Event.Class<Dated>()("test.Dated", { at: Schema.DateFromString }) {}

class Observed extends Event.Class<Observed>()("test.Observed", {
  station: Schema.String,
  at: Schema.DateFromString,
  kelvin: Schema.Number.pipe(Schema.positive()),
  source: Schema.String.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => "sensor"))
}) {}

const subscribe = (name: string, eventType: string, routingKey: string | null = null) =>
  Runtime.registerGroup({ name, eventType, routingKey })

const eventCount = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM sluice.events`, (rows) => rows[0]!.n)
)

describe("Outbox", () => {
  it.layer(Runtime.layer)((it) => {
    it.effect("delivers one event once to each subscribed group (fan-out)", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* subscribe("a", "test.Ping")
        yield* subscribe("b", "test.Ping")
        yield* subscribe("c", "test.Ping")
        yield* subscribe("other", "test.Other")
        yield* Outbox.emit(new Ping({ n: 1 }))
        for (const group of ["a", "b", "c"]) {
          const rows = yield* Runtime.deliveries(group)
          assert.deepStrictEqual(rows.map((row) => [row.status, row.attempts]), [["pending", 0]])
        }
        assert.deepStrictEqual(yield* Runtime.deliveries("other"), [])
      }))

    it.effect("routing-key subscriptions only see their key", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* subscribe("vector", "test.Ping", "vector")
        yield* subscribe("keyword", "test.Ping", "keyword")
        yield* subscribe("all", "test.Ping")
        yield* Outbox.emitAll([
          { event: new Ping({ n: 1 }), options: { routingKey: "vector" } },
          { event: new Ping({ n: 2 }), options: { routingKey: "keyword" } },
          { event: new Ping({ n: 3 }), options: { routingKey: "my-index" } },
          new Ping({ n: 4 })
        ])
        assert.deepStrictEqual((yield* Runtime.deliveries("vector")).map((row) => row.event_id), ["1"])
        assert.deepStrictEqual((yield* Runtime.deliveries("keyword")).map((row) => row.event_id), ["2"])
        assert.deepStrictEqual((yield* Runtime.deliveries("all")).map((row) => row.event_id), ["1", "2", "3", "4"])
      }))

    it.effect("an event no group subscribes to is kept in the log and delivered nowhere", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* Outbox.emit(new Ping({ n: 1 }))
        const sql = yield* SqlClient.SqlClient
        const events = yield* sql<{ type: string; payload: unknown }>`SELECT type, payload FROM sluice.events`
        assert.deepStrictEqual(events, [{ type: "test.Ping", payload: { _tag: "test.Ping", n: 1 } }])
        const count = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM sluice.deliveries`
        assert.strictEqual(count[0]!.n, 0)
      }))

    it.effect("encodes payloads with the event's schema", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* Outbox.emit(new Dated({ at: new Date("2024-05-01T00:00:00.000Z") }))
        const sql = yield* SqlClient.SqlClient
        const [row] = yield* sql<{ payload: unknown }>`SELECT payload FROM sluice.events`
        assert.deepStrictEqual(row!.payload, { _tag: "test.Dated", at: "2024-05-01T00:00:00.000Z" })
      }))

    it.effect("a second emit with the same type and dedup key is a no-op", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* subscribe("a", "test.Ping")
        yield* Outbox.emit(new Ping({ n: 1 }), { dedupKey: "k1" })
        yield* Outbox.emit(new Ping({ n: 2 }), { dedupKey: "k1" })
        yield* Outbox.emitAll([
          { event: new Ping({ n: 3 }), options: { dedupKey: "k2" } },
          { event: new Ping({ n: 4 }), options: { dedupKey: "k2" } }
        ])
        assert.strictEqual(yield* eventCount, 2)
        assert.strictEqual((yield* Runtime.deliveries("a")).length, 2)
      }))

    it.effect("delayed delivery: deliverAfter and deliverAt set when a delivery becomes due", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* TestClock.setTime(1_000_000)
        yield* subscribe("a", "test.Ping")
        yield* Outbox.emit(new Ping({ n: 1 }))
        yield* Outbox.emit(new Ping({ n: 2 }), { deliverAfter: "90 seconds" })
        yield* Outbox.emit(new Ping({ n: 3 }), { deliverAt: new Date(5_000_000) })
        const rows = yield* Runtime.deliveries("a")
        assert.deepStrictEqual(rows.map((row) => row.available_at.getTime()), [1_000_000, 1_090_000, 5_000_000])
        const store = yield* Store
        const claimed = yield* store.claim({
          group: "a",
          limit: 10,
          token: crypto.randomUUID(),
          now: new Date(1_089_999),
          fair: false
        })
        assert.deepStrictEqual(claimed.map((row) => row.event_id), ["1"])
      }))

    it.effect("one batch mixing options: each event keeps its own type, key, dedup key, due time and metadata", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* TestClock.setTime(1_000_000)
        yield* subscribe("pings", "test.Ping")
        yield* subscribe("dated", "test.Dated")
        const key = `a "quoted", back\\slashed {NULL} key`
        yield* Outbox.emitAll([
          new Ping({ n: 1 }),
          { event: new Ping({ n: 2 }), options: { routingKey: key, dedupKey: "d", metadata: { source: "x" } } },
          { event: new Dated({ at: new Date(0) }), options: { deliverAfter: "1 minute" } },
          { event: new Ping({ n: 3 }), options: { dedupKey: "d" } },
          { event: new Ping({ n: 4 }), options: { routingKey: "", deliverAt: new Date(7_000_000) } }
        ])
        const sql = yield* SqlClient.SqlClient
        const events = yield* sql<
          { type: string; routing_key: string | null; dedup_key: string | null; metadata: unknown }
        >`
          SELECT type, routing_key, dedup_key, metadata FROM sluice.events ORDER BY id`
        assert.deepStrictEqual(events.map((row) => [row.type, row.routing_key, row.dedup_key, row.metadata]), [
          ["test.Ping", null, null, {}],
          ["test.Ping", key, "d", { source: "x" }],
          ["test.Dated", null, null, {}],
          ["test.Ping", "", null, {}]
        ])
        const due = (group: string) =>
          Effect.map(Runtime.deliveries(group), (rows) => rows.map((row) => row.available_at.getTime()))
        assert.deepStrictEqual(yield* due("pings"), [1_000_000, 1_000_000, 7_000_000])
        assert.deepStrictEqual(yield* due("dated"), [1_060_000])
      }))

    it.effect("emits inside a rolled-back transaction leave nothing", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* subscribe("a", "test.Ping")
        const sql = yield* SqlClient.SqlClient
        const result = yield* sql.withTransaction(Effect.gen(function*() {
          yield* Outbox.emit(new Ping({ n: 1 }))
          return yield* Effect.fail("domain write failed")
        })).pipe(Effect.either)
        assert.isTrue(Either.isLeft(result))
        assert.strictEqual(yield* eventCount, 0)
        assert.deepStrictEqual(yield* Runtime.deliveries("a"), [])
      }))

    it.effect("an event that does not encode fails with the type and the schema error", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const bad = new Ping({ n: 1 })
        Object.assign(bad, { n: "not a number" })
        const error = yield* Effect.flip(Outbox.emit(bad))
        assert.strictEqual(error._tag, "EmitFailed")
        assert.strictEqual(error.reason, "encode")
        assert.include(error.message, "test.Ping")
        assert.include(error.message, "Expected number")
        assert.strictEqual(yield* eventCount, 0)
      }))

    it.effect("emitAllOf stores each item's fields as its instance would be stored", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const fields = [
          { station: "a", at: new Date("2024-05-01T00:00:00.000Z"), kelvin: 280 },
          { station: "b", at: new Date(0), kelvin: 1.5, source: "manual" }
        ]
        yield* Outbox.emitAll(fields.map((item) => new Observed(item)))
        yield* Outbox.emitAllOf(Observed, fields)
        const withExtra = { ...fields[0]!, unit: "K" }
        yield* Outbox.emitAllOf(Observed, [withExtra])
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ type: string; payload: unknown }>`SELECT type, payload FROM sluice.events ORDER BY id`
        const first = {
          type: "test.Observed",
          payload: {
            _tag: "test.Observed",
            station: "a",
            at: "2024-05-01T00:00:00.000Z",
            kelvin: 280,
            source: "sensor"
          }
        }
        const second = {
          type: "test.Observed",
          payload: {
            _tag: "test.Observed",
            station: "b",
            at: "1970-01-01T00:00:00.000Z",
            kelvin: 1.5,
            source: "manual"
          }
        }
        assert.deepStrictEqual(rows, [first, second, first, second, first])
        const decoded = Schema.decodeUnknownEither(Observed)(rows[2]!.payload)
        assert.isTrue(Either.isRight(decoded) && decoded.right instanceof Observed)
      }))

    it.effect("emitAllOf refuses a batch with an invalid item, naming the item and the field, and writes none", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const good = { station: "a", at: new Date(0), kelvin: 280 }
        const error = yield* Effect.flip(Outbox.emitAllOf(Observed, [good, good, { ...good, kelvin: -1 }, good]))
        assert.strictEqual(error._tag, "EmitFailed")
        assert.strictEqual(error.reason, "encode")
        assert.strictEqual(error.eventType, "test.Observed")
        assert.include(error.message, "item 2 of 4")
        assert.include(error.message, "[\"kelvin\"]")
        assert.include(error.message, "Expected a positive number, actual -1")
        // @ts-expect-error: the items are typed by the class's constructor
        const mistyped = yield* Effect.flip(Outbox.emitAllOf(Observed, [{ station: "a", at: "today", kelvin: 1 }]))
        assert.include(mistyped.message, "item 0 of 1")
        assert.include(mistyped.message, "Expected DateFromSelf, actual \"today\"")
        assert.strictEqual(yield* eventCount, 0)
      }))

    it.effect("emitAllOf gives each item the options its function returns", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* TestClock.setTime(1_000_000)
        yield* subscribe("vector", "test.Ping", "vector")
        yield* subscribe("all", "test.Ping")
        yield* Outbox.emitAllOf(
          Ping,
          [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }],
          (item, index) =>
            item.n === 1
              ? undefined
              : {
                routingKey: index % 2 === 1 ? "vector" : "keyword",
                dedupKey: `p${item.n % 2}`,
                deliverAfter: "1 minute"
              }
        )
        const sql = yield* SqlClient.SqlClient
        const events = yield* sql<{ payload: unknown; routing_key: string | null; dedup_key: string | null }>`
          SELECT payload, routing_key, dedup_key FROM sluice.events ORDER BY id`
        assert.deepStrictEqual(events.map((row) => [row.payload, row.routing_key, row.dedup_key]), [
          [{ _tag: "test.Ping", n: 1 }, null, null],
          [{ _tag: "test.Ping", n: 2 }, "vector", "p0"],
          [{ _tag: "test.Ping", n: 3 }, "keyword", "p1"]
        ])
        assert.deepStrictEqual((yield* Runtime.deliveries("vector")).map((row) => row.event_id), ["2"])
        const due = yield* Runtime.deliveries("all")
        assert.deepStrictEqual(due.map((row) => [row.event_id, row.available_at.getTime()]), [
          ["1", 1_000_000],
          ["2", 1_060_000],
          ["3", 1_060_000]
        ])
      }))

    it.scoped("notifies each woken group once per transaction, at commit", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* subscribe("a", "test.Ping")
        yield* subscribe("b", "test.Ping")
        const { url } = yield* TestDatabase.TestDatabase
        const received: Array<string> = []
        const listener = yield* Effect.acquireRelease(
          Effect.promise(async () => {
            const client = new pg.Client({ connectionString: url })
            await client.connect()
            client.on("notification", (message) => received.push(message.payload ?? ""))
            await client.query("LISTEN sluice_sluice")
            return client
          }),
          (client) => Effect.promise(() => client.end())
        )
        const sql = yield* SqlClient.SqlClient
        yield* sql.withTransaction(Effect.gen(function*() {
          yield* Outbox.emitAll([new Ping({ n: 1 }), new Ping({ n: 2 })])
          yield* Outbox.emit(new Ping({ n: 3 }))
          yield* Runtime.liveSleep("50 millis")
          assert.deepStrictEqual(received, [], "nothing is sent before commit")
        }))
        yield* Effect.promise(() => listener.query("SELECT pg_notify('sluice_sluice', 'sentinel')"))
        yield* Runtime.waitUntil("the sentinel notification", Effect.sync(() => [...received]), (r) =>
          r.includes("sentinel"))
        assert.deepStrictEqual(received.sort(), ["a", "b", "sentinel"])
      }))
  })
})
