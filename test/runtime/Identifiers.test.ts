/**
 * Identifiers that come from outside (event type names, routing keys, consumer-group
 * names, dedup keys) are values, never SQL text: quotes, semicolons, comment markers,
 * backslashes, control characters, non-ASCII and long strings are stored and matched
 * byte for byte. The schema name is the one identifier interpolated into SQL: it is
 * validated, and a valid one is always quoted (a reserved word works).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { InvalidConfig } from "../../src/runtime/Errors.js"
import * as Event from "../../src/runtime/Event.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as RuntimeConfig from "../../src/runtime/RuntimeConfig.js"
import * as Sluice from "../../src/runtime/Sluice.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

/** A deterministic string of `length` code points drawn from awkward characters. */
const awkward = (length: number, seed: number) => {
  const alphabet = [..."'\";-\\/*$%?_ \t\nxyzÆøü日本語📦🚀"]
  let state = seed
  let text = ""
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) % 2147483648
    text += alphabet[state % alphabet.length]
  }
  return text
}

const evil: ReadonlyArray<string> = [
  "it's",
  "say \"hi\"",
  "x'; DROP TABLE sluice.events; --",
  "a -- comment",
  "/* block */ SELECT 1",
  "back\\slash\\",
  "\\x00 \\' \\\"",
  "semi;colon;",
  "$1 $$dollar$$ %s ? :name",
  "línea\nnueva\ttab\r",
  "📦🚀 événement 日本語",
  " padded ",
  "UPPER",
  awkward(180, 7)
]

const sameValue = <A>(actual: ReadonlyArray<A>, expected: ReadonlyArray<A>, what: string) =>
  assert.deepStrictEqual(actual, expected, what)

describe("Identifiers", () => {
  it.layer(Runtime.layer)((it) => {
    it.scoped("event types, routing keys, group names and dedup keys are stored and matched exactly", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const sql = yield* SqlClient.SqlClient
        const seen: Array<{ group: string; type: string; routingKey: string | null; label: string }> = []
        const cases = evil.map((text, i) => {
          const type = `t${i}:${text}`
          class Evt extends Event.Class<Evt>()(type, { label: Schema.String }) {}
          const group = `g${i}:${text}`
          const handler = Handler.make({
            name: group,
            event: Evt,
            routingKey: text,
            // Only LISTEN/NOTIFY (whose payload is the group name) can wake the loop in time.
            pollInterval: "1 hour",
            handle: (event, delivery) =>
              Effect.sync(() =>
                seen.push({ group, type: event._tag, routingKey: delivery.routingKey, label: event.label })
              )
          })
          return { text, type, group, Evt, handler }
        })
        yield* Runtime.startPool(cases.map((c) => c.handler))

        for (const { Evt, text } of cases) {
          yield* Outbox.emitAll([
            { event: new Evt({ label: text }), options: { routingKey: text, dedupKey: text } },
            // Same type and dedup key: a no-op.
            { event: new Evt({ label: "duplicate" }), options: { routingKey: text, dedupKey: text } },
            // Near misses of the routing key reach no subscription.
            { event: new Evt({ label: "near miss" }), options: { routingKey: `${text} ` } },
            {
              event: new Evt({ label: "near miss" }),
              options: { routingKey: text.toLowerCase() === text ? text.toUpperCase() : text.toLowerCase() }
            },
            { event: new Evt({ label: "near miss" }), options: { routingKey: text.slice(0, -1) } }
          ])
        }

        const handled = yield* Runtime.waitUntil(
          "every group to handle its event",
          Effect.sync(() => seen.length),
          (n) => n >= cases.length
        )
        assert.strictEqual(handled, cases.length)
        for (const c of cases) {
          const mine = seen.filter((s) => s.group === c.group)
          sameValue(
            mine,
            [{ group: c.group, type: c.type, routingKey: c.text, label: c.text }],
            `handled by ${c.group}`
          )
          const events = yield* sql<{ type: string; routing_key: string; dedup_key: string | null; label: string }>`
            SELECT type, routing_key, dedup_key, payload->>'label' AS label
            FROM sluice.events WHERE type = ${c.type} ORDER BY id`
          assert.strictEqual(events.length, 4, `one deduplicated, three near misses for ${c.type}`)
          sameValue(
            events.map((e) => [e.type, e.routing_key, e.dedup_key, e.label]),
            [
              [c.type, c.text, c.text, c.text],
              [c.type, `${c.text} `, null, "near miss"],
              [
                c.type,
                c.text.toLowerCase() === c.text ? c.text.toUpperCase() : c.text.toLowerCase(),
                null,
                "near miss"
              ],
              [c.type, c.text.slice(0, -1), null, "near miss"]
            ],
            `events of ${c.type}`
          )
          const deliveries = yield* sql<{ consumer_group: string; status: string }>`
            SELECT d.consumer_group, d.status FROM sluice.deliveries d
            JOIN sluice.events e ON e.id = d.event_id WHERE e.type = ${c.type}`
          sameValue(deliveries, [{ consumer_group: c.group, status: "delivered" }], `deliveries of ${c.type}`)
          const subscriptions = yield* sql<{ event_type: string; routing_key: string }>`
            SELECT event_type, routing_key FROM sluice.subscriptions WHERE consumer_group = ${c.group}`
          sameValue(subscriptions, [{ event_type: c.type, routing_key: c.text }], `subscription of ${c.group}`)
        }
        // Nothing was dropped or created along the way.
        const tables = yield* sql<{ name: string }>`
          SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'sluice' ORDER BY 1`
        sameValue(
          tables.map((t) => t.name),
          ["consumer_groups", "deliveries", "delivery_errors", "events", "migrations", "subscriptions"],
          "tables"
        )
      }))

    it.effect("the same dedup key under another type, or differing only in case or spacing, is a new event", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        class A extends Event.Class<A>()("dedup.A", { n: Schema.Number }) {}
        class B extends Event.Class<B>()("dedup.B", { n: Schema.Number }) {}
        const key = "Key'; --"
        for (
          const [event, dedupKey] of [
            [new A({ n: 1 }), key],
            [new A({ n: 2 }), key],
            [new B({ n: 3 }), key],
            [new A({ n: 4 }), key.toLowerCase()],
            [new A({ n: 5 }), ` ${key}`],
            [new A({ n: 6 }), `${key}\u200b`]
          ] as const
        ) {
          yield* Outbox.emit(event, { dedupKey })
        }
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ type: string; n: number }>`
          SELECT type, (payload->>'n')::int AS n FROM sluice.events ORDER BY id`
        sameValue(rows.map((r) => r.n), [1, 3, 4, 5, 6], "only the exact (type, key) repeat is dropped")
      }))

    it.effect("a routing key or dedup key too long for an index is a typed emit error naming the type", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        class Big extends Event.Class<Big>()("test.Big", { n: Schema.Number }) {}
        // 1,000 incompressible characters are fine...
        yield* Outbox.emit(new Big({ n: 1 }), { dedupKey: awkward(1_000, 3), routingKey: awkward(1_000, 4) })
        // ...10,000 exceed PostgreSQL's btree row limit, and the emit says so.
        const error = yield* Effect.flip(Outbox.emit(new Big({ n: 2 }), { dedupKey: awkward(10_000, 5) }))
        assert.strictEqual(error._tag, "EmitFailed")
        assert.strictEqual(error.eventType, "test.Big")
        assert.strictEqual(error.reason, "database")
        assert.match(error.message, /index row size|exceeds|maximum/)
        const sql = yield* SqlClient.SqlClient
        const [count] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM sluice.events`
        assert.strictEqual(count!.n, 1)
      }))

    it.effect("a NUL character cannot be stored in text: the emit fails with a typed error, not a crash", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        class Nul extends Event.Class<Nul>()("test.Nul", { n: Schema.Number }) {}
        const error = yield* Effect.flip(Outbox.emit(new Nul({ n: 1 }), { routingKey: "a\u0000b" }))
        assert.strictEqual(error._tag, "EmitFailed")
        assert.strictEqual(error.eventType, "test.Nul")
        assert.include(error.message, "invalid byte sequence for encoding \"UTF8\": 0x00")
      }))

    it.effect("an evil schema name is refused, naming the field, the value and the rule", () =>
      Effect.gen(function*() {
        const names = [
          "sluice\"; DROP SCHEMA public CASCADE; --",
          "sluice; DROP TABLE x",
          "a--b",
          "a.b",
          "a b",
          "a-b",
          "back\\slash",
          "it's",
          "schéma",
          "📦",
          "Sluice",
          "1sluice",
          "",
          "a".repeat(49)
        ]
        for (const schema of names) {
          const error = yield* Effect.flip(RuntimeConfig.make({ schema }))
          assert.strictEqual(error._tag, "InvalidConfig")
          assert.strictEqual(error.field, "schema")
          assert.strictEqual(error.value, JSON.stringify(schema))
          assert.include(error.message, "lower-case letters, digits, underscores")
        }
        assert.strictEqual((yield* RuntimeConfig.make({ schema: "a".repeat(48) })).schema, "a".repeat(48))
        const fromEnv = yield* Effect.flip(
          Layer.build(RuntimeConfig.layerConfig).pipe(
            Effect.scoped,
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["SLUICE_SCHEMA", "x; DROP TABLE y"]])))
          )
        )
        assert.strictEqual(
          (fromEnv as InvalidConfig).message,
          "sluice: invalid schema = \"x; DROP TABLE y\": " +
            "must match /^[a-z_][a-z0-9_]{0,47}$/ (lower-case letters, digits, underscores)"
        )
      }))

    it.scoped("a valid schema name that is a reserved word is quoted everywhere: migrate, emit, claim, LISTEN", () =>
      Effect.gen(function*() {
        class Ping extends Event.Class<Ping>()("test.Ping", { n: Schema.Number }) {}
        const handled: Array<number> = []
        yield* Effect.gen(function*() {
          yield* Runtime.startPool([
            Handler.make({
              name: "pings",
              event: Ping,
              pollInterval: "1 hour",
              handle: (event) => Effect.sync(() => handled.push(event.n))
            })
          ])
          yield* Outbox.emitAll([new Ping({ n: 1 }), new Ping({ n: 2 })])
          yield* Runtime.waitUntil("both handled", Effect.sync(() => handled.length), (n) => n === 2)
        }).pipe(Effect.provide(Sluice.layer({ schema: "select" })))
        const sql = yield* SqlClient.SqlClient
        const statuses = sql<{ status: string }>`SELECT status FROM "select".deliveries ORDER BY event_id`.pipe(
          Effect.map((rows) => rows.map((r) => r.status))
        )
        // A batch handled without SQL is acknowledged by the loop's next claim, just after.
        yield* Runtime.waitUntil("both acknowledged", statuses, (s) => s.every((status) => status === "delivered"))
        sameValue(yield* statuses, ["delivered", "delivered"], "deliveries in schema \"select\"")
        assert.deepStrictEqual(handled.sort(), [1, 2])
      }))
  })
})
