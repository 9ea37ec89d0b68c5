/**
 * A first drain benchmark: N pre-filled events through one no-op batch handler in one
 * process, on a fresh database each run; prints median, min and max deliveries/s.
 *
 *   npm run bench -- [--events 10000] [--batch 100] [--concurrency 1] [--runs 3]
 *
 * Uses `DATABASE_URL` when set, else an embedded server in `.sluice-bench/`.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schema from "effect/Schema"
import { parseArgs } from "node:util"
import { Database, EmbeddedPostgres, Event, Handler, Outbox, Sluice, Store, WorkerPool } from "../src/runtime/index.js"

class Tick extends Event.Class<Tick>()("bench.Tick", { n: Schema.Number }) {}

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "10000" },
    batch: { type: "string", default: "100" },
    concurrency: { type: "string", default: "1" },
    runs: { type: "string", default: "3" }
  }
})
const events = Number(values.events)
const batchSize = Number(values.batch)
const concurrency = Number(values.concurrency)
const runs = Number(values.runs)

const serverUrl = Effect.gen(function*() {
  const url = process.env.DATABASE_URL
  if (url !== undefined && url !== "") return url
  const server = yield* EmbeddedPostgres.make({ dataDir: ".sluice-bench" })
  return server.url
})

const databaseUrl = (server: string, name: string) => {
  const url = new URL(server)
  url.pathname = `/${name}`
  return url.href
}

const oneRun = (server: string, run: number) =>
  Effect.scoped(Effect.gen(function*() {
    const name = `sluice_bench_${process.pid}_${run}`
    yield* Effect.acquireRelease(
      EmbeddedPostgres.createDatabase(server, name),
      () => Effect.orDie(EmbeddedPostgres.dropDatabase(server, name))
    )
    const runtime = Sluice.layer().pipe(
      Layer.provideMerge(Database.layer({ url: databaseUrl(server, name), maxConnections: concurrency + 4 }))
    )
    return yield* Effect.gen(function*() {
      const done = yield* Deferred.make<void>()
      let handled = 0
      const handler = Handler.make({
        name: "bench.Drain",
        event: Tick,
        batchSize,
        concurrency,
        handleBatch: (deliveries) =>
          Effect.suspend(() => {
            handled += deliveries.length
            return handled >= events ? Deferred.succeed(done, undefined) : Effect.void
          })
      })
      const store = yield* Store.Store
      yield* store.registerGroup({
        name: "bench.Drain",
        claimTimeoutMs: 60_000,
        maxAttempts: 10,
        subscriptions: [{ eventType: Tick._tag, routingKey: null }]
      }, new Date())
      for (let start = 0; start < events; start += 1_000) {
        yield* Outbox.emitAll(
          Array.from({ length: Math.min(1_000, events - start) }, (_, i) => new Tick({ n: start + i }))
        )
      }
      const sql = yield* SqlClient.SqlClient
      yield* sql`VACUUM ANALYZE sluice.deliveries`
      const started = performance.now()
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(WorkerPool.layer([handler]))
        yield* Deferred.await(done)
      }))
      const seconds = (performance.now() - started) / 1000
      return events / seconds
    }).pipe(Effect.provide(runtime))
  }))

const program = Effect.gen(function*() {
  const server = yield* serverUrl
  const rates: Array<number> = []
  for (let run = 1; run <= runs; run++) {
    const rate = yield* oneRun(server, run)
    rates.push(rate)
    console.log(`run ${run}: ${Math.round(rate)} deliveries/s`)
  }
  const sorted = [...rates].sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)]!
  console.log(
    `drain: ${events} events, batch ${batchSize}, concurrency ${concurrency}, 1 process: ` +
      `median ${Math.round(median)}/s (min ${Math.round(sorted[0]!)}, max ${Math.round(sorted.at(-1)!)})`
  )
})

program.pipe(
  Effect.scoped,
  Logger.withMinimumLogLevel(LogLevel.Warning),
  NodeRuntime.runMain
)
