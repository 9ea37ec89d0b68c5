/**
 * The claim runs as a prepared statement that PostgreSQL stops planning after its first
 * executions: a cached generic plan, with the claim size written into the statement so
 * that the plan is the index-driven one (a bound LIMIT made the generic plan scan tables).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Sluice from "../../src/runtime/Sluice.js"
import { Store } from "../../src/runtime/Store.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

const group = "plans"
const eventType = "test.Plans.Tick"

/** One connection, so every statement lands on the connection whose prepared statements we read. */
const oneConnection = Sluice.layer({ migrate: false }).pipe(
  Layer.provideMerge(TestDatabase.layerWith({ maxConnections: 1 }))
)

describe("claim plans", () => {
  it.layer(oneConnection)((it) => {
    it.effect("a claim after the first few runs on a cached generic plan that uses the indexes", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const store = yield* Store
        yield* TestDatabase.truncate
        yield* Runtime.registerGroup({ name: group, eventType, claimTimeoutMs: 60_000, maxAttempts: 3 })
        const now = new Date()
        yield* store.emit(
          Array.from({ length: 5_000 }, (_, n) => ({
            type: eventType,
            routing_key: null,
            payload: { n },
            metadata: {},
            dedup_key: null,
            available_at: null
          })),
          now
        )
        yield* sql.unsafe(`ANALYZE ${TestDatabase.schema}.deliveries, ${TestDatabase.schema}.events`)
        let claimed = 0
        for (let i = 0; i < 20; i++) {
          const rows = yield* store.claim({ group, limit: 10, token: crypto.randomUUID(), now, fair: false })
          claimed += rows.length
        }
        assert.strictEqual(claimed, 200)
        const plans = yield* sql<{ readonly generic: number; readonly custom: number }>`
          SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements
          WHERE statement LIKE '%FOR UPDATE SKIP LOCKED%'`
        assert.strictEqual(plans.length, 1, "one prepared claim statement")
        assert.isAbove(plans[0]!.generic, 10, `generic plans: ${JSON.stringify(plans[0])}`)
        assert.isAtMost(plans[0]!.custom, 5)
      }))
  })
})
