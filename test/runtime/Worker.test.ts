import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Event from "../../src/runtime/Event.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

class Ping extends Event.Class<Ping>()("test.Ping", { n: Schema.Number }) {}
class Pong extends Event.Class<Pong>()("test.Pong", { n: Schema.Number }) {}

/** A table the handlers write to through the runtime's transaction. */
const reset = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* TestDatabase.truncate
  yield* sql`CREATE TABLE IF NOT EXISTS handled (n int NOT NULL, delivery_id text NOT NULL)`
  yield* sql`TRUNCATE handled`
})

const record = (n: number, deliveryId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO handled (n, delivery_id) VALUES (${n}, ${deliveryId})`)

const handledNumbers = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => Effect.map(sql<{ n: number }>`SELECT n FROM handled ORDER BY n`, (rows) => rows.map((row) => row.n))
)

const countOf = (type: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ n: number }>`SELECT count(*)::int AS n FROM sluice.events WHERE type = ${type}`,
      (rows) => rows[0]!.n
    ))

const settled = (group: string, total: number) =>
  Runtime.waitUntil(
    `${total} settled deliveries of ${group}`,
    Runtime.deliveries(group),
    (rows) => rows.length === total && rows.every((row) => row.status !== "pending" && row.status !== "claimed")
  )

describe("Worker", () => {
  it.layer(Runtime.layer)((it) => {
    it.scoped("handles each event and acknowledges it with the handler's writes", () =>
      Effect.gen(function*() {
        yield* reset
        yield* Runtime.startPool([
          Handler.make({
            name: "pings",
            event: Ping,
            batchSize: 4,
            handle: (event, delivery) => record(event.n, delivery.id)
          })
        ])
        yield* Outbox.emitAll(Array.from({ length: 10 }, (_, n) => new Ping({ n })))
        const rows = yield* settled("pings", 10)
        assert.isTrue(rows.every((row) => row.status === "delivered" && row.attempts === 1))
        assert.deepStrictEqual(yield* handledNumbers, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      }))

    it.scoped("hands the handler each delivery's event id, attempt, routing key, metadata and emit time", () =>
      Effect.gen(function*() {
        yield* reset
        const emittedAt = Date.parse("2026-03-04T05:06:07.089Z")
        yield* TestClock.setTime(emittedAt)
        const seen = yield* Deferred.make<Handler.Delivery<Ping>>()
        yield* Runtime.startPool([
          Handler.make({
            name: "pings",
            event: Ping,
            handle: (_event, delivery) => Deferred.succeed(seen, delivery)
          })
        ])
        yield* Outbox.emit(new Ping({ n: 7 }), { routingKey: "k-1", metadata: { correlationId: "c-9" } })
        const delivery = yield* Deferred.await(seen)
        const [event] = yield* Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ id: string }>`SELECT id::text AS id FROM sluice.events WHERE type = 'test.Ping'`
        )
        assert.strictEqual(delivery.eventId, event!.id)
        assert.strictEqual(delivery.event.n, 7)
        assert.strictEqual(delivery.attempt, 1)
        assert.strictEqual(delivery.routingKey, "k-1")
        assert.strictEqual(delivery.metadata.correlationId, "c-9")
        assert.strictEqual(delivery.createdAt.toISOString(), "2026-03-04T05:06:07.089Z")
      }))

    it.scoped("a handler that emits and then fails leaves no emitted events and no partial writes", () =>
      Effect.gen(function*() {
        yield* reset
        yield* Runtime.startPool([
          Handler.make({
            name: "pings",
            event: Ping,
            maxAttempts: 1,
            handle: (event, delivery) =>
              Effect.gen(function*() {
                yield* record(event.n, delivery.id)
                yield* Outbox.emit(new Pong({ n: event.n }))
                return yield* Effect.fail(new Error("boom after emitting"))
              })
          })
        ])
        yield* Outbox.emit(new Ping({ n: 1 }))
        const [row] = yield* settled("pings", 1)
        assert.strictEqual(row!.status, "failed")
        assert.include(row!.last_error, "boom after emitting")
        assert.strictEqual(yield* countOf("test.Pong"), 0)
        assert.deepStrictEqual(yield* handledNumbers, [])
      }))

    it.scoped("a handler that succeeds commits its emits with the acknowledgement, with causation", () =>
      Effect.gen(function*() {
        yield* reset
        yield* Runtime.startPool([
          Handler.make({
            name: "pings",
            event: Ping,
            handle: (event) => Outbox.emit(new Pong({ n: event.n * 10 }), { metadata: { source: "test" } })
          })
        ])
        yield* Outbox.emit(new Ping({ n: 4 }), { metadata: { correlationId: "c-1" } })
        yield* settled("pings", 1)
        const sql = yield* SqlClient.SqlClient
        const pongs = yield* sql<{ payload: { n: number }; metadata: Record<string, unknown> }>`
          SELECT payload, metadata FROM sluice.events WHERE type = 'test.Pong'`
        assert.strictEqual(pongs.length, 1)
        assert.strictEqual(pongs[0]!.payload.n, 40)
        assert.strictEqual(pongs[0]!.metadata.causationId, "1")
        assert.strictEqual(pongs[0]!.metadata.correlationId, "c-1")
        assert.strictEqual(pongs[0]!.metadata.source, "test")
      }))

    it.scoped("Permanent dead-letters at once; Skip settles as skipped with its reason", () =>
      Effect.gen(function*() {
        yield* reset
        yield* Runtime.startPool([
          Handler.make({
            name: "pings",
            event: Ping,
            handle: (event): Effect.Effect<void, Handler.Permanent | Handler.Skip> =>
              event.n === 1
                ? new Handler.Permanent({ message: "record is malformed" })
                : event.n === 2
                ? new Handler.Skip({ reason: "not for us" })
                : Effect.void
          })
        ])
        yield* Outbox.emitAll([new Ping({ n: 1 }), new Ping({ n: 2 }), new Ping({ n: 3 })])
        const rows = yield* settled("pings", 3)
        assert.deepStrictEqual(rows.map((row) => [row.status, row.attempts]), [["failed", 1], ["skipped", 1], [
          "delivered",
          1
        ]])
        assert.include(rows[0]!.last_error, "record is malformed")
        assert.strictEqual(rows[1]!.last_error, "not for us")
      }))

    it.scoped("a batch handler's per-event outcomes: one poison event does not fail its neighbours", () =>
      Effect.gen(function*() {
        yield* reset
        yield* Runtime.startPool([
          Handler.make({
            name: "pings",
            event: Ping,
            batchSize: 10,
            handleBatch: (deliveries) =>
              Effect.gen(function*() {
                for (const d of deliveries) yield* record(d.event.n, d.id)
                return Handler.outcomes(deliveries.map((d) =>
                  d.event.n === 3
                    ? Handler.Outcome.permanent(new Error("poison"))
                    : d.event.n === 4
                    ? Handler.Outcome.retry("try later")
                    : d.event.n === 5
                    ? Handler.Outcome.skipped("duplicate")
                    : Handler.Outcome.succeeded
                ))
              })
          })
        ])
        yield* Outbox.emitAll([1, 2, 3, 4, 5, 6].map((n) => new Ping({ n })))
        const rows = yield* Runtime.waitUntil(
          "the batch to settle",
          Runtime.deliveries("pings"),
          (rows) => rows.length === 6 && rows.every((row) => row.status !== "claimed" && row.attempts === 1)
        )
        assert.deepStrictEqual(rows.map((row) => row.status), [
          "delivered",
          "delivered",
          "failed",
          "pending",
          "skipped",
          "delivered"
        ])
        assert.include(rows[2]!.last_error, "poison")
        assert.include(rows[3]!.last_error, "try later")
      }))

    it.scoped("a single-event handler over a batch isolates each event's writes", () =>
      Effect.gen(function*() {
        yield* reset
        yield* Runtime.startPool([
          Handler.make({
            name: "pings",
            event: Ping,
            batchSize: 10,
            maxAttempts: 1,
            handle: (event, delivery) =>
              Effect.zipRight(
                record(event.n, delivery.id),
                event.n === 2 ? Effect.fail("no") : Effect.void
              )
          })
        ])
        yield* Outbox.emitAll([1, 2, 3].map((n) => new Ping({ n })))
        const rows = yield* settled("pings", 3)
        assert.deepStrictEqual(rows.map((row) => row.status), ["delivered", "failed", "delivered"])
        assert.deepStrictEqual(yield* handledNumbers, [1, 3])
      }))

    it.scoped("a defect in a handler is a failure of that delivery, and the loop goes on", () =>
      Effect.gen(function*() {
        yield* reset
        yield* Runtime.startPool([
          Handler.make({
            name: "pings",
            event: Ping,
            maxAttempts: 1,
            handle: (event) =>
              event.n === 1
                ? Effect.sync(() => {
                  throw new Error("handler threw")
                })
                : Effect.void
          })
        ])
        yield* Outbox.emitAll([new Ping({ n: 1 }), new Ping({ n: 2 })])
        const rows = yield* settled("pings", 2)
        assert.deepStrictEqual(rows.map((row) => row.status), ["failed", "delivered"])
        assert.include(rows[0]!.last_error, "handler threw")
      }))

    it.scoped("an undecodable payload is a permanent failure naming the type, the event id and the error", () =>
      Effect.gen(function*() {
        yield* reset
        yield* Runtime.startPool([Handler.make({ name: "pings", event: Ping, handle: () => Effect.void })])
        const sql = yield* SqlClient.SqlClient
        yield* sql`INSERT INTO sluice.events (type, payload, created_at, available_at)
          VALUES ('test.Ping', '{"_tag":"test.Ping","n":"seven"}', now(), now())`
        yield* sql`INSERT INTO sluice.deliveries (event_id, consumer_group, status, available_at, updated_at)
          SELECT id, 'pings', 'pending', '1970-01-01', now() FROM sluice.events`
        yield* Outbox.emit(new Ping({ n: 1 }))
        const rows = yield* settled("pings", 2)
        assert.deepStrictEqual(rows.map((row) => [row.status, row.attempts]), [["failed", 1], ["delivered", 1]])
        assert.include(rows[0]!.last_error, "cannot decode test.Ping event 1")
        assert.include(rows[0]!.last_error, "Expected number, actual \"seven\"")
      }))

    it.scoped("an unknown event type in the table fails permanently, not forever", () =>
      Effect.gen(function*() {
        yield* reset
        yield* Runtime.startPool([Handler.make({ name: "pings", event: Ping, handle: () => Effect.void })])
        const sql = yield* SqlClient.SqlClient
        yield* sql`INSERT INTO sluice.events (type, payload, created_at, available_at)
          VALUES ('test.Unknown', '{}', now(), now())`
        yield* sql`INSERT INTO sluice.deliveries (event_id, consumer_group, status, available_at, updated_at)
          SELECT id, 'pings', 'pending', '1970-01-01', now() FROM sluice.events`
        yield* Outbox.emit(new Ping({ n: 1 }))
        const rows = yield* settled("pings", 2)
        assert.deepStrictEqual(rows.map((row) => row.status), ["failed", "delivered"])
        assert.include(rows[0]!.last_error, "unknown event type \"test.Unknown\"")
      }))

    it.scoped("\"ack\" mode writes buffered emits with the acknowledgement, and drops them on failure", () =>
      Effect.gen(function*() {
        yield* reset
        yield* Runtime.startPool([
          Handler.make({
            name: "pings",
            event: Ping,
            transaction: "ack",
            batchSize: 10,
            maxAttempts: 1,
            handle: (event) =>
              Effect.zipRight(
                Effect.zipRight(Outbox.emit(new Pong({ n: event.n })), Outbox.emitAllOf(Pong, [{ n: event.n + 100 }])),
                event.n === 2 ? Effect.fail("failed after emitting") : Effect.void
              )
          })
        ])
        yield* Outbox.emitAll([1, 2, 3].map((n) => new Ping({ n })))
        const rows = yield* settled("pings", 3)
        assert.deepStrictEqual(rows.map((row) => row.status), ["delivered", "failed", "delivered"])
        const sql = yield* SqlClient.SqlClient
        const pongs = yield* sql<{ n: number }>`
          SELECT (payload->>'n')::int AS n FROM sluice.events WHERE type = 'test.Pong' ORDER BY 1`
        assert.deepStrictEqual(pongs.map((row) => row.n), [1, 3, 101, 103])
      }))
  })
})
