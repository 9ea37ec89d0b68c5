/**
 * A poison event that kills its process every time it is handled: each restarted
 * process's reaper takes the lease back counting an attempt, until the delivery is
 * dead-lettered after `maxAttempts`. The other events are delivered.
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

const maxSpawns = 6

layer(TestLayer, { excludeTestServices: true })("poison events across processes", (it) => {
  it.scoped("an event that kills its process is dead-lettered after maxAttempts crashes", () =>
    Effect.gen(function*() {
      yield* TestDatabase.truncate
      yield* Ping.resetTables
      const sql = yield* SqlClient.SqlClient
      const { url } = yield* TestDatabase.TestDatabase
      const group = "process.poison"
      const settings = {
        url,
        group,
        mode: "poison",
        batchSize: 1,
        concurrency: 1,
        maxAttempts: 3,
        claimTimeout: "1 second",
        pollInterval: "100 millis",
        reapInterval: "100 millis"
      } as const
      const poisonAt = 5

      const poisonId = sql<{ readonly id: string }>`
        SELECT id::text AS id FROM ${sql("sluice.events")} WHERE (payload ->> 'poison')::boolean`.pipe(
        Effect.map((rows) => rows[0]?.id)
      )
      const poisonDelivery = Effect.gen(function*() {
        const id = yield* poisonId
        return (yield* Processes.deliveries(group)).find((row) => row.event_id === id)
      })

      const deaths: Array<{ readonly status: string | undefined; readonly attempts: number | undefined }> = []
      let survivor: Processes.Worker | undefined
      for (let spawn = 1; spawn <= maxSpawns && survivor === undefined; spawn++) {
        const worker = yield* Processes.spawnWorker({ ...settings, label: `poison-${spawn}` })
        if (spawn === 1) {
          yield* Processes.awaitReady(worker)
          yield* sql.withTransaction(Outbox.emitAll(Ping.pings(1, 10, poisonAt)))
        }
        // Either the poison event kills this process, or this process's reaper dead-letters it.
        const poison = yield* Processes.until(
          poisonDelivery,
          (row) => worker.exited() !== undefined || row?.status === "failed",
          {
            what: `poison-${spawn} to die on the poison event or dead-letter it`,
            context: () => `--- poison-${spawn} output ---\n${worker.output()}`
          }
        )
        if (poison?.status === "failed") {
          survivor = worker
        } else {
          const exit = yield* worker.awaitExit("10 seconds")
          if (exit.signal !== "SIGKILL") {
            return yield* Effect.fail(
              new Error(`poison-${spawn} exited with ${JSON.stringify(exit)}\n--- its output ---\n${worker.output()}`)
            )
          }
          // Nothing runs now: the dead process's lease is still there, counting this attempt.
          const left = yield* poisonDelivery
          deaths.push({ status: left?.status, attempts: left?.attempts })
        }
      }

      expect(deaths).toEqual([1, 2, 3].map((attempts) => ({ status: "claimed", attempts })))
      expect(survivor, `the poison delivery was not dead-lettered after ${maxSpawns} processes`).toBeDefined()

      const poison = yield* poisonDelivery
      expect(poison).toMatchObject({ status: "failed", attempts: 3, claim_token: null })
      expect(poison?.last_error).toMatch(/^lease expired: .*claim timeout of 1000 ms \(attempt 3 of 3\)$/)

      yield* Processes.until(Processes.statusCounts(group), (counts) => counts.delivered === 9, {
        what: "the 9 other events to be delivered"
      })
      expect(yield* Processes.statusCounts(group)).toEqual({ delivered: 9, failed: 1 })
      const handled = yield* Processes.handledSummary
      expect(handled).toMatchObject({ rows: 9, events: 9, numbers: 9 })
      const [{ poisoned }] = yield* sql<{ readonly poisoned: number }>`
        SELECT count(*)::int AS poisoned FROM ${sql(Ping.tables.handled)} WHERE n = ${poisonAt}`
      expect(poisoned).toBe(0)

      yield* survivor!.kill("SIGTERM")
      expect(yield* survivor!.awaitExit("15 seconds")).toEqual({ code: 0, signal: null })
    }), 60_000)
})
