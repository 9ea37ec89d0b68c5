/**
 * The database restarts under a running worker pool and a producer: the producer's
 * retried emits (deduplicated) and the pool's claim loops, LISTEN connection and reaper
 * all come back by themselves, and every event is handled exactly once.
 *
 * Runs its own embedded server on a temporary folder, stopped and started again on the
 * same folder and port.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, it } from "@effect/vitest"
import * as Array from "effect/Array"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import { promises as fsp } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Database from "../../src/runtime/Database.js"
import * as EmbeddedPostgres from "../../src/runtime/EmbeddedPostgres.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as Sluice from "../../src/runtime/Sluice.js"
import * as WorkerPool from "../../src/runtime/WorkerPool.js"
import * as Ping from "./fixtures/Ping.js"
import * as Processes from "./fixtures/Processes.js"

/** A fresh data folder; on scope close, its server (if running) is stopped and the folder removed. */
const tempDataDir = Effect.acquireRelease(
  Effect.promise(() => fsp.mkdtemp(path.join(os.tmpdir(), "sluice-restart-"))),
  (dir) =>
    EmbeddedPostgres.stop(dir).pipe(
      Effect.ignore,
      Effect.zipRight(Effect.promise(() => fsp.rm(dir, { recursive: true, force: true })))
    )
)

/** A logger keeping the last lines in memory (first line of each cause), shown only when the test fails. */
const collectLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ cause, date, logLevel, message }) => {
    const failure = Cause.isEmpty(cause) ? "" : ` (${Cause.pretty(cause).split("\n", 1)[0]})`
    lines.push(`${date.toISOString()} ${logLevel.label} ${String(message)}${failure}`)
    if (lines.length > 400) lines.splice(0, lines.length - 200)
  })
  return {
    layer: Logger.replace(Logger.defaultLogger, logger),
    tail: () => `--- runtime log (last lines) ---\n${lines.slice(-40).join("\n")}`
  }
}

const events = 1_000
const perTransaction = 5
const group = "process.db-restart"
const serverSettings = { fsync: "off" }

it.scopedLive("the pool and a producer survive a database restart: every event handled exactly once", () => {
  const logs = collectLogs()
  return Effect.gen(function*() {
    const dataDir = yield* tempDataDir
    const server = yield* EmbeddedPostgres.start({ dataDir, settings: serverSettings })

    const runtime = yield* Layer.build(
      Sluice.layer().pipe(
        Layer.provideMerge(Database.layer({ url: server.url, maxConnections: 8, connectTimeout: "2 seconds" }))
      )
    )
    yield* Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Ping.resetTables
      yield* Layer.build(
        WorkerPool.layer([
          Ping.handler({
            group,
            mode: "record",
            batchSize: 10,
            concurrency: 2,
            maxAttempts: 10,
            claimTimeout: "2 seconds",
            pollInterval: "500 millis"
          })
        ], { reapInterval: "200 millis" })
      )

      // Small transactions, each retried until it commits; the dedup keys make a retry of a
      // commit whose acknowledgement was lost a no-op. `withTransaction` turns a failed
      // COMMIT or ROLLBACK into a defect: retry those too. Should the producer get ahead of
      // the test, it waits for the outage at 60% so that it always runs into it.
      const failedEmits = yield* Ref.make(0)
      const committed = yield* Ref.make(0)
      const outage = yield* Deferred.make<void>()
      const emitChunk = (chunk: ReadonlyArray<Ping.Ping>) =>
        sql.withTransaction(
          Outbox.emitAll(chunk.map((event) => ({ event, options: { dedupKey: String(event.n) } })))
        ).pipe(
          Effect.catchAllDefect((defect) => Effect.fail(defect)),
          Effect.tapError(() => Ref.update(failedEmits, (n) => n + 1)),
          Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("20 seconds"))),
          Effect.zipRight(Ref.update(committed, (n) => n + chunk.length))
        )
      const producer = Effect.forEach(
        Array.chunksOf(Ping.pings(1, events), perTransaction),
        (chunk, i) =>
          Effect.when(Deferred.await(outage), () => i * perTransaction === events * 0.6).pipe(
            Effect.zipRight(emitChunk(chunk)),
            // Paced, so that the restart falls in the middle of the run.
            Effect.zipRight(Effect.sleep("5 millis"))
          ),
        { discard: true }
      )
      const producing = yield* Effect.forkScoped(producer)

      // Part-way: the producer has committed some of its events and the pool has handled some.
      const handledCount = Effect.map(Processes.handledSummary, (summary) => summary.rows)
      const progress = Effect.all({ committed: Ref.get(committed), handled: handledCount })
      const before = yield* Processes.until(progress, ({ committed, handled }) => committed >= 300 && handled >= 50, {
        what: "the producer and the pool to be part-way",
        context: logs.tail
      })

      yield* EmbeddedPostgres.stop(dataDir)
      yield* Deferred.succeed(outage, undefined)
      yield* Processes.until(Ref.get(failedEmits), (n) => n > 0, {
        what: "the producer to see the outage",
        timeout: "10 seconds",
        context: () => `progress before the stop: ${JSON.stringify(before)}\n${logs.tail()}`
      })
      const restarted = yield* EmbeddedPostgres.start({ dataDir, port: server.port, settings: serverSettings })
      expect(restarted.port).toBe(server.port)
      expect(restarted.startedHere).toBe(true)

      // The LISTEN connection reconnects by itself.
      yield* Processes.until(
        Effect.map(
          sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE application_name = 'sluice-listen'`,
          (rows) => rows[0]?.n ?? 0
        ),
        (n) => n > 0,
        { what: "the LISTEN connection to come back", timeout: "10 seconds", context: logs.tail }
      )

      yield* Fiber.join(producing).pipe(
        Effect.timeoutFail({
          duration: Duration.seconds(20),
          onTimeout: () => new Error(`the producer did not finish after the restart\n${logs.tail()}`)
        })
      )
      yield* Processes.until(Processes.statusCounts(group), (counts) => counts.delivered === events, {
        what: `${events} deliveries to be delivered after the restart`,
        context: logs.tail
      })

      expect(yield* Ref.get(failedEmits)).toBeGreaterThan(0)
      expect(before.committed).toBeLessThan(events)
      const [emitted] = yield* sql<{ readonly events: number; readonly keys: number }>`
        SELECT count(*)::int AS events, count(DISTINCT dedup_key)::int AS keys FROM ${sql("sluice.events")}`
      expect(emitted).toEqual({ events, keys: events })
      expect(yield* Processes.statusCounts(group)).toEqual({ delivered: events })
      const handled = yield* Processes.handledSummary
      expect(handled).toEqual({ rows: events, events, numbers: events, pids: [process.pid] })
    }).pipe(Effect.provide(runtime))
  }).pipe(Effect.provide(logs.layer))
}, 30_000)
