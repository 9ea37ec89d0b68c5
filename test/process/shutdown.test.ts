/**
 * SIGTERM on a worker process mid-batch: within the shutdown timeout the batch finishes
 * and is acknowledged; past it, the unfinished deliveries are released without counting
 * an attempt. Either way the process exits 0.
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

const settings = (url: string, group: string) => ({
  url,
  group,
  batchSize: 10,
  concurrency: 1,
  maxAttempts: 10,
  claimTimeout: "30 seconds",
  pollInterval: "1 second"
} as const)

/** Starts a worker, emits 10 events, and waits until it has claimed them all. */
const startBatch = (options: Processes.WorkerOptions) =>
  Effect.gen(function*() {
    yield* TestDatabase.truncate
    yield* Ping.resetTables
    const sql = yield* SqlClient.SqlClient
    const worker = yield* Processes.spawnWorker(options)
    yield* Processes.awaitReady(worker)
    yield* sql.withTransaction(Outbox.emitAll(Ping.pings(1, 10)))
    yield* Processes.until(Processes.statusCounts(options.group), (counts) => counts.claimed === 10, {
      what: `${options.label} to claim the batch`,
      abortIf: Processes.unexpectedExit(worker)
    })
    return worker
  })

layer(TestLayer, { excludeTestServices: true })("graceful shutdown of a process", (it) => {
  it.scoped(
    "SIGTERM mid-batch: the batch finishes within the default shutdownTimeout, then exit 0",
    () =>
      Effect.gen(function*() {
        const { url } = yield* TestDatabase.TestDatabase
        const group = "process.shutdown-finish"
        const worker = yield* startBatch({ ...settings(url, group), label: "shutdown-finish", mode: "slow" })

        yield* worker.kill("SIGTERM")
        expect(yield* worker.awaitExit("15 seconds")).toEqual({ code: 0, signal: null })

        const rows = yield* Processes.deliveries(group)
        expect(rows).toHaveLength(10)
        for (const row of rows) {
          expect(row).toMatchObject({ status: "delivered", attempts: 1, claim_token: null, last_error: null })
        }
        expect(yield* Processes.handledSummary).toEqual({ rows: 10, events: 10, numbers: 10, pids: [worker.pid] })
      }),
    30_000
  )

  it.scoped(
    "SIGTERM mid-batch past shutdownTimeout: the batch is released uncounted, then exit 0",
    () =>
      Effect.gen(function*() {
        const { url } = yield* TestDatabase.TestDatabase
        const group = "process.shutdown-release"
        const worker = yield* startBatch({
          ...settings(url, group),
          label: "shutdown-release",
          mode: "block",
          shutdownTimeout: "200 millis"
        })
        yield* Processes.awaitOpenHandlerTransaction(worker)

        yield* worker.kill("SIGTERM")
        expect(yield* worker.awaitExit("15 seconds")).toEqual({ code: 0, signal: null })

        const rows = yield* Processes.deliveries(group)
        expect(rows).toHaveLength(10)
        for (const row of rows) {
          expect(row).toMatchObject({
            status: "pending",
            attempts: 0,
            claimed_at: null,
            claim_token: null,
            last_error: null
          })
        }
        // The handler's insert was rolled back with the interrupted transaction.
        expect((yield* Processes.handledSummary).rows).toBe(0)
      }),
    30_000
  )
})
