/**
 * Running the archive pipeline from the command line: migrations, the worker pool, a
 * `ServerStarted` event, progress lines while it works, and a summary once everything
 * is drained. Shared by `npm start` (keeps serving) and `npm run demo` (exits).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as Archive from "../archive/Archive.js"
import type { Settings } from "../archive/ArchiveConfig.js"
import { ServerStarted } from "../archive/Events.js"
import { Database, Outbox, Sluice, WorkerPool } from "../runtime/index.js"
import * as Progress from "./Progress.js"
import * as Telemetry from "./Telemetry.js"

/** The archive's consumer groups all start with this. */
export const groupPrefix = "archive."

/** What one run did: the difference between the state before and after. */
export interface Summary {
  readonly seconds: number
  readonly pulled: number
  readonly published: number
  readonly rejected: number
  readonly indexed: ReadonlyArray<{ readonly backend: string; readonly count: number }>
  readonly deadLetters: number
  readonly settledDeliveries: number
}

const difference = (
  before: Progress.Snapshot,
  after: Progress.Snapshot,
  seconds: number,
  backends: ReadonlyArray<string>
): Summary => ({
  seconds,
  pulled: after.archive.pulled - before.archive.pulled,
  published: after.archive.published - before.archive.published,
  rejected: after.archive.rejected - before.archive.rejected,
  indexed: backends.map((backend) => ({
    backend,
    count: Progress.indexed(after.archive, backend) - Progress.indexed(before.archive, backend)
  })),
  deadLetters: after.failed - before.failed,
  settledDeliveries: after.settled - before.settled
})

/** The summary as a small table. */
export const table = (summary: Summary) => {
  const rows: Array<readonly [string, string]> = [
    ["records pulled", String(summary.pulled)],
    ["records published", String(summary.published)],
    ["depositions rejected", String(summary.rejected)],
    ...summary.indexed.map(({ backend, count }) => [`indexed in ${backend}`, String(count)] as const),
    ["dead letters", String(summary.deadLetters)],
    ["deliveries settled", String(summary.settledDeliveries)],
    ["wall time", `${summary.seconds.toFixed(1)} s`],
    ["throughput", `${Math.round(summary.settledDeliveries / Math.max(summary.seconds, 0.001))} deliveries/s`]
  ]
  const width = Math.max(...rows.map(([label]) => label.length))
  return rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`).join("\n")
}

/**
 * Starts the pipeline in the current scope and waits until it has drained what this
 * start set off, printing progress every `interval`. Returns the run's summary; the
 * pool keeps running in the scope.
 */
export const startAndDrain = (settings: Settings, options: { readonly intervalMillis?: number } = {}) =>
  Effect.gen(function*() {
    const interval = options.intervalMillis ?? 1_000
    const backends = settings.indexes.map((backend) => backend.name)
    yield* Archive.migrate(settings)
    const snapshot = Progress.snapshot(groupPrefix)
    const before = yield* snapshot
    const started = yield* Clock.currentTimeMillis
    const poolOptions = yield* WorkerPool.config
    // The app samples queue depth for /metrics (one leader among its processes) unless configured otherwise.
    yield* Layer.build(Archive.pool(settings, { ...poolOptions, depthSampler: poolOptions.depthSampler ?? true }))
    const instance = randomUUID()
    yield* Outbox.emit(new ServerStarted({ instance, startedAt: new Date(started) }), {
      dedupKey: `start:${instance}`
    })
    let lastLine = ""
    let lastPrinted = 0
    for (;;) {
      const now = yield* snapshot
      if (Progress.isDrained(now)) break
      const at = yield* Clock.currentTimeMillis
      const line = Progress.line(now, backends)
      if (at - lastPrinted >= interval && line !== lastLine) {
        yield* Console.log(`progress: ${line}`)
        lastLine = line
        lastPrinted = at
      }
      yield* Effect.sleep(Math.min(interval, 200))
    }
    const after = yield* snapshot
    const finished = yield* Clock.currentTimeMillis
    yield* Console.log(`progress: ${Progress.line(after, backends)}`)
    return difference(before, after, (finished - started) / 1000, backends)
  })

/** `LOG_LEVEL` (default WARN, so progress lines stay readable): ALL, TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF. */
export const logLevel = Config.logLevel("LOG_LEVEL").pipe(
  Config.withDefault(LogLevel.Warning),
  Config.withDescription("minimum log level: ALL, TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF")
)

/** Runs an entry point with the minimum log level from `LOG_LEVEL`. */
export const withConfiguredLogLevel = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(logLevel, (level) => Logger.withMinimumLogLevel(effect, level))

/** Runs an entry point with OpenTelemetry export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (see `Telemetry.ts`). */
export const withTelemetry = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, Telemetry.layerConfig)

/** The runtime of the app's entry points: `DATABASE_URL` (or the embedded server) and `SLUICE_*` from configuration. */
const runtime = Sluice.layerConfig.pipe(Layer.provideMerge(Database.layerConfig))

/** Runs an entry point of the app on `runtime`, with telemetry and the configured log level. */
export const runMain = <E>(program: Effect.Effect<void, E, Scope.Scope | Layer.Layer.Success<typeof runtime>>) =>
  program.pipe(Effect.scoped, Effect.provide(runtime), withTelemetry, withConfiguredLogLevel, NodeRuntime.runMain)
