/**
 * A worker process killed mid-batch leaves its deliveries claimed and its handler's work
 * uncommitted; another process's reaper takes the expired leases back and that process
 * handles every event exactly once.
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

layer(TestLayer, { excludeTestServices: true })("crash recovery across processes", (it) => {
  it.scoped(
    "a batch whose process was killed is reaped and handled once by another process",
    () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* Ping.resetTables
        const sql = yield* SqlClient.SqlClient
        const { url } = yield* TestDatabase.TestDatabase
        const group = "process.crash"
        // Both processes run the same handler settings; only what the handler does differs.
        const settings = {
          url,
          group,
          batchSize: 20,
          concurrency: 1,
          maxAttempts: 10,
          claimTimeout: "2 seconds",
          pollInterval: "200 millis",
          reapInterval: "200 millis"
        } as const

        const doomed = yield* Processes.spawnWorker({ ...settings, label: "crash-doomed", mode: "block" })
        yield* Processes.awaitReady(doomed)
        yield* sql.withTransaction(Outbox.emitAll(Ping.pings(1, 20)))
        yield* Processes.until(Processes.statusCounts(group), (counts) => counts.claimed === 20, {
          what: "crash-doomed to claim the 20 deliveries",
          abortIf: Processes.unexpectedExit(doomed)
        })
        yield* Processes.awaitOpenHandlerTransaction(doomed)

        yield* doomed.kill("SIGKILL")
        expect(yield* doomed.awaitExit("10 seconds")).toEqual({ code: null, signal: "SIGKILL" })
        yield* Processes.awaitDisconnected(doomed)

        const orphaned = yield* Processes.deliveries(group)
        expect(orphaned).toHaveLength(20)
        for (const delivery of orphaned) {
          expect(delivery).toMatchObject({ status: "claimed", attempts: 1, last_error: null })
          expect(delivery.claim_token).not.toBeNull()
        }
        expect(new Set(orphaned.map((delivery) => delivery.claim_token)).size).toBe(1)
        // The handler's insert ran in the acknowledging transaction, which died with the process.
        expect((yield* Processes.handledSummary).rows).toBe(0)

        const rescuer = yield* Processes.spawnWorker({ ...settings, label: "crash-rescuer", mode: "record" })
        yield* Processes.until(Processes.statusCounts(group), (counts) => counts.delivered === 20, {
          what: "crash-rescuer to reap and handle the 20 deliveries",
          abortIf: Processes.unexpectedExit(rescuer),
          context: () => `--- crash-rescuer output ---\n${rescuer.output()}`
        })

        const rescued = yield* Processes.deliveries(group)
        for (const delivery of rescued) {
          expect(delivery).toMatchObject({ status: "delivered", attempts: 2, claim_token: null, last_error: null })
        }
        const handled = yield* Processes.handledSummary
        expect(handled).toEqual({ rows: 20, events: 20, numbers: 20, pids: [rescuer.pid] })
        const [{ attempts }] = yield* sql<{ readonly attempts: ReadonlyArray<number> }>`
        SELECT array_agg(DISTINCT attempt) AS attempts FROM ${sql(Ping.tables.handled)}`
        expect(attempts).toEqual([2])

        yield* rescuer.kill("SIGTERM")
        expect(yield* rescuer.awaitExit("15 seconds")).toEqual({ code: 0, signal: null })
      }),
    60_000
  )
})
