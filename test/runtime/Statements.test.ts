import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Event from "../../src/runtime/Event.js"
import * as Statements from "../../src/runtime/internal/Statements.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as Sluice from "../../src/runtime/Sluice.js"
import { Store } from "../../src/runtime/Store.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"
import { recordingTracer } from "../support/Tracing.js"

class Job extends Event.Class<Job>()("test.Job", { n: Schema.Number }) {}

/** The texts the store ran on the pool directly. */
class Executed extends Context.Tag("test/Executed")<Executed, Array<string>>() {}

/** The test database with its pool wrapped to record what runs on it. */
const recordingPool = Layer.effectContext(Effect.gen(function*() {
  const context = yield* Effect.context<TestDatabase.Services>()
  const pool = Context.get(context, Statements.Pool)
  const executed: Array<string> = []
  return context.pipe(
    Context.add(Statements.Pool, {
      execute: (text, params) => Effect.suspend(() => (executed.push(text), pool.execute(text, params)))
    }),
    Context.add(Executed, executed)
  )
})).pipe(Layer.provide(TestDatabase.layer))

const emittedCount = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM sluice.events`
).pipe(Effect.map((rows) => rows[0]?.n))

describe("Statements", () => {
  it.layer(Sluice.layer({ migrate: false }).pipe(Layer.provideMerge(recordingPool)))((it) => {
    it.scoped("outside a transaction, the store's statements run on the pool", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const executed = yield* Executed
        const store = yield* Store
        yield* Runtime.registerGroup({ name: "direct", eventType: "test.Job" })
        executed.length = 0
        yield* Outbox.emit(new Job({ n: 1 }))
        const now = new Date(yield* Clock.currentTimeMillis)
        const rows = yield* store.claim({ group: "direct", limit: 10, token: crypto.randomUUID(), now, fair: false })
        assert.strictEqual(rows.length, 1)
        assert.strictEqual(executed.length, 2)
        assert.include(executed[0], "INSERT INTO \"sluice\".\"events\"")
        assert.include(executed[1], "SET status = 'claimed'")
      }))

    it.scoped("in the caller's transaction, they run on its connection and roll back with it", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const executed = yield* Executed
        const sql = yield* SqlClient.SqlClient
        executed.length = 0
        const written = yield* sql.withTransaction(Effect.zipRight(Outbox.emit(new Job({ n: 1 })), emittedCount))
        assert.strictEqual(written, 1)
        const failed = yield* sql.withTransaction(
          Effect.zipRight(Outbox.emit(new Job({ n: 2 })), Effect.fail("rolled back" as const))
        ).pipe(Effect.flip)
        assert.strictEqual(failed, "rolled back")
        assert.strictEqual(yield* emittedCount, 1)
        assert.strictEqual(executed.length, 0)
      }))

    it.scoped("with a tracer that exports spans, they run through @effect/sql, one span each", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const executed = yield* Executed
        const { spans, tracer } = yield* recordingTracer
        executed.length = 0
        yield* Outbox.emit(new Job({ n: 1 })).pipe(Effect.withTracer(tracer))
        assert.strictEqual(executed.length, 0)
        const statements = spans.filter((span) => span.name === "sql.execute")
        assert.strictEqual(statements.length, 1)
        assert.include(String(statements[0]!.attributes.get("db.query.text")), "INSERT INTO \"sluice\".\"events\"")
        assert.strictEqual(yield* emittedCount, 1)
      }))

    it.scoped("an interrupted statement on the pool is cancelled", () =>
      Effect.gen(function*() {
        const pool = yield* Statements.Pool
        const sql = yield* SqlClient.SqlClient
        const marker = `sluice_cancelled_${crypto.randomUUID().replaceAll("-", "")}`
        const running = sql<{ readonly n: number }>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE state = 'active' AND query LIKE ${`%${marker}%`} AND pid <> pg_backend_pid()`.pipe(
          Effect.map((rows) => rows[0]?.n)
        )
        const sleeping = yield* Effect.fork(pool.execute(`SELECT pg_sleep(30) AS ${marker}`, []))
        yield* Runtime.waitUntil("the statement running", running, (n) => n === 1, "5 seconds")
        yield* Fiber.interrupt(sleeping)
        yield* Runtime.waitUntil("the statement cancelled", running, (n) => n === 0, "5 seconds")
      }))
  })
})
