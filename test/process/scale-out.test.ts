/**
 * Three worker processes compete for one consumer group: every event is handled exactly
 * once, by more than one process, and SIGTERM stops each of them cleanly.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as Sluice from "../../src/runtime/Sluice.js"
import * as TestDatabase from "../support/TestDatabase.js"
import * as Ping from "./fixtures/Ping.js"
import * as Processes from "./fixtures/Processes.js"

const TestLayer = Sluice.layer({ migrate: false }).pipe(Layer.provideMerge(TestDatabase.layer))

const events = 3_000

layer(TestLayer, { excludeTestServices: true })("scale-out across processes", (it) => {
  it.scoped("three processes share one consumer group: each event handled exactly once", () =>
    Effect.gen(function*() {
      yield* TestDatabase.truncate
      yield* Ping.resetTables
      const sql = yield* SqlClient.SqlClient
      const { url } = yield* TestDatabase.TestDatabase
      const group = "process.scale-out"

      const workers = yield* Effect.forEach(
        ["scale-out-1", "scale-out-2", "scale-out-3"],
        (label) =>
          Processes.spawnWorker({
            url,
            label,
            group,
            mode: "record",
            batchSize: 50,
            concurrency: 2,
            maxAttempts: 10,
            claimTimeout: "60 seconds",
            pollInterval: "1 second"
          })
      )
      // The group's subscription exists once a pool has started; emitting after all three
      // started lets them race from the first batch.
      yield* Processes.awaitReady(...workers)
      yield* sql.withTransaction(Outbox.emitAll(Ping.pings(1, events)))

      yield* Processes.until(Processes.statusCounts(group), (counts) => counts.delivered === events, {
        what: `${events} deliveries to be delivered`,
        timeout: "30 seconds",
        abortIf: Processes.unexpectedExit(...workers)
      })
      expect(yield* Processes.statusCounts(group)).toEqual({ delivered: events })

      const handled = yield* Processes.handledSummary
      expect(handled.rows).toBe(events)
      expect(handled.events).toBe(events)
      expect(handled.numbers).toBe(events)
      expect(handled.pids.length).toBeGreaterThan(1)
      expect(workers.map((worker) => worker.pid)).toEqual(expect.arrayContaining([...handled.pids]))
      const [ids] = yield* sql<{ readonly mismatched: number }>`
        SELECT count(*)::int AS mismatched FROM ${sql(Ping.tables.handled)}
        WHERE delivery_id <> ${group} || '/' || event_id::text OR attempt <> 1`
      expect(ids!.mismatched).toBe(0)

      yield* Effect.forEach(workers, (worker) => worker.kill("SIGTERM"))
      const exits = yield* Effect.forEach(workers, (worker) => worker.awaitExit("15 seconds"), {
        concurrency: "unbounded"
      })
      expect(exits).toEqual(workers.map(() => ({ code: 0, signal: null })))
    }), 60_000)
})
