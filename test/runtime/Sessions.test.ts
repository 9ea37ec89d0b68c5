import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as TestServices from "effect/TestServices"
import * as Event from "../../src/runtime/Event.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as Sluice from "../../src/runtime/Sluice.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

class Job extends Event.Class<Job>()("test.Job", { n: Schema.Number }) {}

/** A pool of two connections, which two loops that kept their sessions' connections would hold. */
const twoConnections = Sluice.layer({ migrate: false }).pipe(
  Layer.provideMerge(TestDatabase.layerWith({ maxConnections: 2 }))
)

describe("Sessions", () => {
  it.layer(twoConnections)((it) => {
    it.scoped("a loop gives its transaction's connection back to the pool after each batch", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE IF NOT EXISTS session_handled (n int PRIMARY KEY)`
        yield* Runtime.startPool([
          Handler.make({
            name: "in-transaction",
            event: Job,
            batchSize: 5,
            concurrency: 2,
            transaction: "handler",
            handleBatch: (deliveries) =>
              sql`INSERT INTO session_handled ${sql.insert(deliveries.map((d) => ({ n: d.event.n })))}`
          })
        ])
        yield* Outbox.emitAll(Array.from({ length: 40 }, (_, n) => new Job({ n })))
        yield* Runtime.waitUntil(
          "all 40 delivered",
          Runtime.statusCounts("in-transaction"),
          (counts) => counts.delivered === 40
        )
        // Both connections at once: neither may still be held by an idle loop.
        const both = yield* Effect.all([sql`SELECT count(*)::int AS n FROM session_handled`, sql`SELECT 1 AS one`], {
          concurrency: 2
        }).pipe(Effect.timeout("5 seconds"), TestServices.provideLive)
        assert.strictEqual(both[0][0]?.n, 40)
      }))
  })
})
