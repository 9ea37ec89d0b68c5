/**
 * The claim runs as a prepared statement that PostgreSQL stops planning after its first
 * executions: a cached generic plan, with the claim size written into the statement so
 * that the plan is the index-driven one (a bound LIMIT made the generic plan scan tables).
 * It finds the rows it claims through their keys whatever the tables' size and statistics
 * (a join with the locked rows made PostgreSQL scan both tables whole on every claim), and so
 * do the operators' retries and skips of dead letters, and a page of the changefeed.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Operations from "../../src/ops/OperationsStore.js"
import * as Sluice from "../../src/runtime/Sluice.js"
import { type Acknowledgement, Store } from "../../src/runtime/Store.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

const group = "plans"
const eventType = "test.Plans.Tick"

/** Empty tables but for one group with 5,000 pending deliveries; returns when they were emitted. */
const backlog = Effect.gen(function*() {
  const now = new Date()
  yield* TestDatabase.truncate
  yield* Runtime.registerGroup({ name: group, eventType, claimTimeoutMs: 60_000, maxAttempts: 3, interleave: true })
  const store = yield* Store
  yield* store.emit(
    Array.from({ length: 5_000 }, (_, n) => ({
      type: eventType,
      routing_key: `key-${n % 7}`,
      payload: { n },
      metadata: {},
      dedup_key: null,
      available_at: null
    })),
    now
  )
  return now
})

const analyze = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql.unsafe(`ANALYZE ${TestDatabase.schema}.deliveries, ${TestDatabase.schema}.events`)
)

/** Rows of the runtime's tables read by sequential scans, as the backend counts them. */
const sequentialReads = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ readonly relname: string; readonly rows: number }>`
      SELECT relname, seq_tup_read::int AS rows FROM pg_stat_xact_user_tables
      WHERE schemaname = ${TestDatabase.schema} AND relname IN ('deliveries', 'events')`,
    (rows) => new Map(rows.map((row) => [row.relname, row.rows]))
  ))

/**
 * Runs `effect` in a transaction and returns its result with the rows it read by
 * sequential scans of the runtime's tables. The backend's counts include its earlier
 * transactions until it reports them (at most once a second), hence the difference taken
 * within one transaction.
 */
const readSequentially = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(Effect.gen(function*() {
      const before = yield* sequentialReads
      const result = yield* effect
      const after = yield* sequentialReads
      const read = [...after].flatMap(([table, rows]) => {
        const more = rows - (before.get(table) ?? 0)
        return more > 0 ? [`${table}: ${more} rows`] : []
      })
      return { result, read }
    })))

/** Acknowledges the batch `held` under `token` and claims the next one under a new token: the worker's step. */
const claimNext = (
  options: { readonly limit: number; readonly now: Date; readonly fair: boolean; readonly mode?: Acknowledgement },
  held: { readonly token: string; readonly rows: ReadonlyArray<{ readonly event_id: string }> }
) =>
  Effect.flatMap(Store, (store) => {
    const token = crypto.randomUUID()
    return Effect.map(
      store.claimAndAcknowledge({
        group,
        ...options,
        token,
        acknowledge: { token: held.token, eventIds: held.rows.map((row) => row.event_id), mode: options.mode }
      }),
      ({ acknowledged, rows }) => ({ token, rows, acknowledged })
    )
  })

/** One connection, so every statement lands on the connection whose prepared statements we read. */
const oneConnection = Operations.layer.pipe(
  Layer.provideMerge(Sluice.layer({ migrate: false })),
  Layer.provideMerge(TestDatabase.layerWith({ maxConnections: 1 }))
)

describe("claim plans", () => {
  it.layer(oneConnection)((it) => {
    it.effect("claims after the first few run on cached generic plans, one event per batch or ten, marking or deleting", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const store = yield* Store
        const now = yield* backlog
        yield* analyze
        for (const mode of ["mark", "delete"] as const) {
          for (const limit of [1, 10]) {
            const token = crypto.randomUUID()
            let held = { token, rows: yield* store.claim({ group, limit, token, now, fair: false }) }
            for (let i = 0; i < 20; i++) {
              const next = yield* claimNext({ limit, now, fair: false, mode }, held)
              assert.deepStrictEqual([next.acknowledged, next.rows.length], [limit, limit])
              held = next
            }
          }
        }
        const plans = yield* sql<{ readonly generic: number; readonly custom: number }>`
          SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements
          WHERE statement LIKE '%FOR UPDATE SKIP LOCKED%' AND statement LIKE '%acked AS%'`
        assert.strictEqual(plans.length, 4, "one prepared claim-and-acknowledge statement per batch size and mode")
        for (const plan of plans) {
          assert.isAbove(plan.generic, 10, `generic plans: ${JSON.stringify(plan)}`)
          assert.isAtMost(plan.custom, 5)
        }
      }))

    it.effect("a claim reaches its rows and their events by key, before and after the tables are analyzed", () =>
      Effect.gen(function*() {
        const store = yield* Store
        const now = yield* backlog
        const claimTwice = (fair: boolean, mode: Acknowledgement) =>
          readSequentially(Effect.gen(function*() {
            const token = crypto.randomUUID()
            const first = yield* store.claim({ group, limit: 100, token, now, fair })
            const next = yield* claimNext({ limit: 100, now, fair, mode }, { token, rows: first })
            return [first.length, next.rows.length, next.acknowledged]
          }))
        for (const analyzed of [false, true]) {
          if (analyzed) yield* analyze
          for (const fair of [false, true]) {
            for (const mode of ["mark", "delete"] as const) {
              const { read, result } = yield* claimTwice(fair, mode)
              assert.deepStrictEqual(result, [100, 100, 100])
              assert.deepStrictEqual(read, [], `analyzed: ${analyzed}, fair: ${fair}, ${mode}`)
            }
          }
        }
      }))

    it.effect("settling and pruning reach their rows by key too", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const store = yield* Store
        const now = yield* backlog
        yield* analyze
        const token = crypto.randomUUID()
        const rows = yield* store.claim({ group, limit: 200, token, now, fair: false })
        const outcomes = (status: "delivered" | "failed") => (row: { readonly event_id: string }) => ({
          event_id: row.event_id,
          status,
          available_at: null,
          last_error: status === "failed" ? "boom" : null,
          release: false
        })
        const settled = yield* readSequentially(Effect.zipWith(
          store.settle(group, token, rows.slice(0, 100).map(outcomes("failed")), now),
          store.settle(group, token, rows.slice(100).map(outcomes("delivered")), now),
          (failed, delivered) => failed + delivered
        ))
        assert.deepStrictEqual(settled, { result: 200, read: [] })
        yield* sql.unsafe(
          `UPDATE ${TestDatabase.schema}.deliveries SET status = 'delivered', updated_at = $1 WHERE status = 'pending'`,
          [now]
        )
        const later = new Date(now.getTime() + 60_000)
        const deliveries = yield* readSequentially(store.pruneDeliveries(later, 1_000, "-infinity"))
        assert.strictEqual(deliveries.result.removed, 1_000)
        assert.deepStrictEqual(deliveries.read, [])
        // The events walk looks at the first 1,000 ids and deletes those no delivery needs any more.
        const [unneeded] = yield* sql<{ n: number }>`
          SELECT count(*)::int AS n FROM (SELECT id FROM sluice.events ORDER BY id LIMIT 1000) e
          WHERE NOT EXISTS (SELECT 1 FROM sluice.deliveries d WHERE d.event_id = e.id)`
        assert.isAbove(unneeded!.n, 0)
        const events = yield* readSequentially(store.pruneEvents(later, 1_000, "0"))
        assert.deepStrictEqual(events.result, { removed: unneeded!.n, next: "1000" })
        assert.deepStrictEqual(events.read, [])
      }))

    it.effect("retrying and skipping hundreds of dead letters reach their rows by key", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const operations = yield* Operations.OperationsStore
        const now = yield* backlog
        yield* sql.unsafe(
          `UPDATE ${TestDatabase.schema}.deliveries SET status = 'failed', updated_at = $1 WHERE event_id % 5 = 0`,
          [now]
        )
        yield* analyze
        const later = new Date(now.getTime() + 60_000)
        const filter = {
          _tag: "Filter",
          group,
          type: null,
          since: null,
          afterId: "0",
          until: later,
          limit: 600
        } as const
        const retried = yield* readSequentially(operations.retry(filter, later))
        assert.strictEqual(retried.result.length, 600)
        assert.deepStrictEqual(retried.read, [])
        const refs = yield* sql<{ readonly event_id: string }>`
          SELECT d.event_id::text AS event_id FROM ${sql(`${TestDatabase.schema}.deliveries`)} d
          WHERE status = 'failed' ORDER BY d.event_id`
        const skipped = yield* readSequentially(operations.skip(
          { _tag: "Refs", refs: refs.map((row) => ({ event_id: row.event_id, consumer_group: group })) },
          later
        ))
        assert.strictEqual(skipped.result.length, 400)
        assert.deepStrictEqual(skipped.read, [])
      }))

    it.effect("a changefeed page reads its events through the (transaction, id) index, not the whole table", () =>
      Effect.gen(function*() {
        const store = yield* Store
        yield* backlog
        yield* analyze
        const page = store.changes({ afterTx: "0", afterId: "0", limit: 100, types: null })
        yield* Runtime.waitUntil("the backlog to be visible", page, (rows) => rows.length === 100)
        const read = yield* readSequentially(page)
        assert.deepStrictEqual(read.result.map((row) => row.id), Array.from({ length: 100 }, (_, n) => String(n + 1)))
        assert.deepStrictEqual(read.read, [])
      }))
  })
})
