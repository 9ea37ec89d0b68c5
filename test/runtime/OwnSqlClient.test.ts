import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Event from "../../src/runtime/Event.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Statements from "../../src/runtime/internal/Statements.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as Sluice from "../../src/runtime/Sluice.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

class Job extends Event.Class<Job>()("test.Job", { n: Schema.Number }) {}

/**
 * The test database as a `SqlClient` of one's own: without the pool `Database` opened, which
 * the store runs its statements on directly. (A file of its own: layers of one file share
 * their memo map, and the store built on another block's pool would be reused.)
 */
const ownClient = Layer.effectContext(
  Effect.map(Effect.context<TestDatabase.Services>(), Context.omit(Statements.Pool))
).pipe(Layer.provide(TestDatabase.layer))

describe("A SqlClient of one's own", () => {
  it.layer(Sluice.layer({ migrate: false }).pipe(Layer.provideMerge(ownClient)))((it) => {
    it.scoped("the runtime runs through @effect/sql: emits, claims, a handler's SQL, acknowledgements", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const pool = yield* Effect.serviceOption(Statements.Pool)
        assert.isTrue(pool._tag === "None")
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE IF NOT EXISTS own_client (n int PRIMARY KEY)`
        yield* Runtime.startPool([
          Handler.make({
            name: "own",
            event: Job,
            batchSize: 10,
            handleBatch: (deliveries) =>
              sql`INSERT INTO own_client ${sql.insert(deliveries.map((d) => ({ n: d.event.n })))}`
          })
        ])
        yield* Outbox.emitAll(Array.from({ length: 25 }, (_, n) => new Job({ n })))
        yield* Runtime.waitUntil(
          "all 25 delivered",
          Runtime.statusCounts("own"),
          (counts) => counts.delivered === 25
        )
        const [handled] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM own_client`
        assert.strictEqual(handled?.n, 25)
      }))
  })
})
