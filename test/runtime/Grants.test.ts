/**
 * Least privilege, for real: a migration-owner role migrates and owns the schema; a
 * runtime role with only the grants of `Grants.statements` runs the whole happy path
 * (emit, LISTEN wake-ups, claim, handler emits, acknowledge, reaper, retention,
 * changefeed, stats) and cannot change the schema.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { randomBytes } from "node:crypto"
import * as Database from "../../src/runtime/Database.js"
import * as Event from "../../src/runtime/Event.js"
import * as Grants from "../../src/runtime/Grants.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Migrations from "../../src/runtime/Migrations.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as Reaper from "../../src/runtime/Reaper.js"
import * as Retention from "../../src/runtime/Retention.js"
import * as RuntimeConfig from "../../src/runtime/RuntimeConfig.js"
import * as Sluice from "../../src/runtime/Sluice.js"
import { Store } from "../../src/runtime/Store.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

class Order extends Event.Class<Order>()("shop.Order", { n: Schema.Number }) {}
class Shipped extends Event.Class<Shipped>()("shop.Shipped", { n: Schema.Number }) {}

const schema = "sluice_sec"
const suffix = `${process.pid}_${randomBytes(3).toString("hex")}`
const owner = { name: `sluice_owner_${suffix}`, password: randomBytes(12).toString("hex") }
const runtime = { name: `sluice_rt_${suffix}`, password: randomBytes(12).toString("hex") }

const urlAs = (base: string, role: { readonly name: string; readonly password: string }) => {
  const url = new URL(base)
  url.username = role.name
  url.password = role.password
  return url.href
}

/** The two roles, created by the superuser for this test and dropped afterwards. */
const roles = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const { name: database } = yield* TestDatabase.TestDatabase
  yield* Effect.acquireRelease(
    Effect.gen(function*() {
      yield* sql.unsafe(`CREATE ROLE ${owner.name} LOGIN PASSWORD '${owner.password}'`)
      yield* sql.unsafe(`CREATE ROLE ${runtime.name} LOGIN PASSWORD '${runtime.password}'`)
      yield* sql.unsafe(`GRANT CREATE ON DATABASE ${Grants.quoteIdentifier(database)} TO ${owner.name}`)
    }),
    () =>
      Effect.gen(function*() {
        yield* sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
        yield* sql.unsafe(`DROP OWNED BY ${owner.name}, ${runtime.name}`)
        yield* sql.unsafe(`DROP ROLE IF EXISTS ${owner.name}`)
        yield* sql.unsafe(`DROP ROLE IF EXISTS ${runtime.name}`)
      }).pipe(Effect.orDie)
  )
})

/** A connection as `role` on this file's database, with the runtime configured for the test schema. */
const connectAs = (role: { readonly name: string; readonly password: string }) =>
  Effect.gen(function*() {
    const { url } = yield* TestDatabase.TestDatabase
    const opened = yield* Database.make({ url: urlAs(url, role), maxConnections: 4 })
    const settings = yield* RuntimeConfig.make({ schema })
    return Context.add(Database.contextOf(opened), RuntimeConfig.RuntimeConfig, settings)
  })

const permissionDenied = (statement: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const error = yield* Effect.flip(sql.unsafe(statement))
    const text = `${error.message}: ${String((error.cause as Error | undefined)?.message)}`
    assert.match(text, /permission denied|must be owner/, statement)
  })

describe("Grants", () => {
  it.layer(TestDatabase.layer)((it) => {
    it.effect("statements quote the role and refuse a bad schema or role", () =>
      Effect.gen(function*() {
        const list = yield* Grants.statements({ schema: "sluice", runtimeRole: "app\"; DROP ROLE x; --" })
        assert.include(list[1], "GRANT USAGE ON SCHEMA \"sluice\" TO \"app\"\"; DROP ROLE x; --\"")
        const badSchema = yield* Effect.flip(Grants.statements({ schema: "x; DROP", runtimeRole: "app" }))
        assert.strictEqual(badSchema.field, "schema")
        const badRole = yield* Effect.flip(Grants.statements({ runtimeRole: "" }))
        assert.strictEqual(badRole.field, "runtimeRole")
        assert.strictEqual(
          badRole.message,
          "sluice grants: invalid runtimeRole = \"\": must be a role name of 1 to 63 bytes without NUL"
        )
      }))

    it.scoped("the owner migrates; the runtime role runs the happy path and cannot change the schema", () =>
      Effect.gen(function*() {
        yield* roles

        // The owner: migrate, then grant.
        const asOwner = yield* connectAs(owner)
        yield* Effect.gen(function*() {
          const applied = yield* Migrations.run
          assert.isAbove(applied.length, 0)
          yield* Grants.apply({ schema, runtimeRole: runtime.name })
        }).pipe(Effect.provide(asOwner), Effect.provide(NodeContext.layer))

        // The runtime role: the whole happy path.
        const asRuntime = yield* connectAs(runtime)
        yield* Effect.gen(function*() {
          yield* TestClock.setTime(Date.UTC(2026, 0, 1))
          const shipped: Array<number> = []
          yield* Runtime.startPool([
            Handler.make({
              name: "orders",
              event: Order,
              batchSize: 10,
              pollInterval: "1 hour",
              handle: (order) => Outbox.emit(new Shipped({ n: order.n }))
            }),
            Handler.make({
              name: "shipping",
              event: Shipped,
              pollInterval: "1 hour",
              handle: (event) => Effect.sync(() => shipped.push(event.n))
            })
          ], { reapInterval: "100 days", pruneInterval: "100 days" })
          yield* Outbox.emitAll([1, 2, 3].map((n) => new Order({ n })))
          // Only LISTEN wake-ups can move a loop whose poll interval is an hour of TestClock.
          yield* Runtime.waitUntil(
            "the chain handled by LISTEN wake-ups",
            Effect.sync(() => shipped.length),
            (n) => n === 3
          )
          const store = yield* Store
          // A batch handled without SQL is acknowledged by its loop's next claim, just after.
          yield* Runtime.waitUntil(
            "the chain acknowledged",
            Effect.map(store.counts, (rows) => rows.map((row) => [row.consumer_group, row.status, row.count])),
            (rows) =>
              JSON.stringify(rows) === JSON.stringify([["orders", "delivered", 3], ["shipping", "delivered", 3]])
          )

          // A lease left behind by a dead worker, taken back by the reaper.
          yield* Outbox.emit(new Order({ n: 4 }), { deliverAfter: "2 hours" })
          const now = Date.UTC(2026, 0, 1)
          const claimed = yield* store.claim({
            group: "orders",
            limit: 1,
            token: crypto.randomUUID(),
            now: new Date(now + 3 * 3_600_000),
            fair: false
          })
          assert.strictEqual(claimed.length, 1)
          assert.strictEqual(yield* Reaper.reapOnce, 0, "not before the claim timeout")
          yield* TestClock.setTime(now + 3 * 3_600_000 + 61_000)
          assert.strictEqual(yield* Reaper.reapOnce, 1)
          const stats = yield* Runtime.waitUntil(
            "the reaped order handled and shipped",
            Effect.map(
              store.groupStats(new Date(now + 4 * 3_600_000), new Date(0)),
              (rows) => rows.map((row) => [row.consumer_group, row.delivered])
            ),
            (rows) => JSON.stringify(rows) === JSON.stringify([["orders", 4], ["shipping", 4]])
          )
          assert.deepStrictEqual(stats, [["orders", 4], ["shipping", 4]])
          assert.deepStrictEqual(shipped.sort(), [1, 2, 3, 4])
          // The feed shows a commit once every older transaction on the server (other test files') ended.
          yield* Runtime.waitUntil(
            "the changefeed reads all 8 events",
            store.changes({ afterTx: "0", afterId: "0", limit: 100, types: null }),
            (changes) => changes.length === 8
          )

          yield* TestClock.setTime(now + 3 * 86_400_000)
          const pruned = yield* Retention.pruneOnce("1 day")
          assert.deepStrictEqual(pruned, { deliveries: 8, events: 8 })
          assert.deepStrictEqual(yield* store.counts, [])

          // No DDL, no TRUNCATE, no migrations table, no new schema.
          yield* permissionDenied(`CREATE TABLE ${schema}.evil (a int)`)
          yield* permissionDenied(`ALTER TABLE ${schema}.events ADD COLUMN evil int`)
          yield* permissionDenied(`DROP TABLE ${schema}.deliveries`)
          yield* permissionDenied(`TRUNCATE ${schema}.events`)
          yield* permissionDenied(`CREATE INDEX evil ON ${schema}.events (type)`)
          yield* permissionDenied(`DELETE FROM ${schema}.migrations`)
          yield* permissionDenied(`CREATE SCHEMA evil`)
          yield* permissionDenied(`CREATE TABLE public.evil (a int)`)
          const migrating = yield* Effect.flip(Migrations.run.pipe(Effect.provide(NodeContext.layer)))
          assert.strictEqual(migrating._tag, "MigrationFailed")
          assert.match(migrating.message, /permission denied/)
        }).pipe(
          Effect.provide(
            Sluice.layer({ schema, migrate: false }).pipe(Layer.provideMerge(Layer.succeedContext(asRuntime)))
          )
        )
      }))
  })
})
