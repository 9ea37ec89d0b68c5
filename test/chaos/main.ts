/**
 * `npm run chaos`: several worker processes, a producer and a fault injector on one
 * database, then a verdict on what was delivered. See docs/chaos.md.
 *
 * The run's own embedded PostgreSQL lives in `--data-dir` (default `.sluice-chaos`, never
 * the tests' `.sluice-test`); with `DATABASE_URL` it uses that server instead (and cannot
 * restart it). Prints progress while it runs, then the report; the last line is exactly
 * `chaos: lost <L>, duplicated <D>, faults <F>`. Exits 1 on any violation, 2 on bad options.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Database from "../../src/runtime/Database.js"
import * as EmbeddedPostgres from "../../src/runtime/EmbeddedPostgres.js"
import * as Sluice from "../../src/runtime/Sluice.js"
import * as Faults from "./Faults.js"
import * as Options from "./Options.js"
import * as Producer from "./Producer.js"
import * as Scenario from "./Scenario.js"
import * as Verify from "./Verify.js"
import * as Workers from "./Workers.js"

const databaseName = "sluice_chaos"
const serverSettings = { fsync: "off" }

const withDatabase = (url: string, name: string) => {
  const parsed = new URL(url)
  parsed.pathname = `/${name}`
  return parsed.href
}

const say = (line: string) => Effect.sync(() => console.log(line))

const run = (options: Options.Options) =>
  Effect.gen(function*() {
    const fromEnv = process.env.DATABASE_URL
    const embedded = fromEnv === undefined || fromEnv === ""
    const dataDir = path.resolve(options.dataDir)
    if (embedded && path.basename(dataDir) === ".sluice-test") {
      return yield* Effect.die(new Error("refusing to run chaos on the tests' shared server folder .sluice-test"))
    }
    const kinds = Faults.kinds.filter((kind) => embedded || kind !== "db-restart")
    const durationMs = Duration.toMillis(options.duration)
    yield* say(
      `chaos: seed ${options.seed}, ${options.processes} worker processes, ${options.events} events at ${options.rate}/s, ` +
        `faults for ${Duration.format(options.duration)}${embedded ? "" : " (DATABASE_URL: no database restarts)"}` +
        (options.retentionZero ? "; retention zero (acknowledgements delete, pruning every few seconds)" : "")
    )

    let port = 0
    let serverUrl: string
    if (embedded) {
      const server = yield* EmbeddedPostgres.start({ dataDir, settings: serverSettings })
      port = server.port
      serverUrl = server.url
      yield* Effect.addFinalizer(() => EmbeddedPostgres.stop(dataDir).pipe(Effect.ignore))
    } else {
      serverUrl = fromEnv
    }
    yield* EmbeddedPostgres.dropDatabase(serverUrl, databaseName)
    yield* EmbeddedPostgres.createDatabase(serverUrl, databaseName)
    const url = withDatabase(serverUrl, databaseName)
    const logDir = path.join(dataDir, "external")
    fs.rmSync(logDir, { recursive: true, force: true })
    fs.mkdirSync(logDir, { recursive: true })
    fs.rmSync(path.join(dataDir, "workers"), { recursive: true, force: true })
    fs.mkdirSync(path.join(dataDir, "workers"), { recursive: true })

    const runtime = yield* Layer.build(
      Sluice.layer().pipe(
        Layer.provideMerge(
          Database.layer({ url, applicationName: "chaos-producer", maxConnections: 6, connectTimeout: "3 seconds" })
        )
      )
    )
    const sql = yield* Effect.provide(SqlClient.SqlClient, runtime)
    const withRuntime = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, runtime)
    yield* withRuntime(Scenario.install("sluice"))

    const workers = Workers.make(options.processes, {
      url,
      seed: options.seed,
      logDir,
      retentionZero: options.retentionZero
    })
    yield* Effect.addFinalizer(() => Effect.sync(workers.killNow))
    const onExit = () => workers.killNow()
    process.once("exit", onExit)
    for (const slot of workers.slots) workers.start(slot)
    yield* sql<{ readonly n: number }>`SELECT count(DISTINCT slot)::int AS n FROM ${sql(Scenario.tables.ready)}`.pipe(
      Effect.map((rows) => rows[0]?.n ?? 0),
      Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: (n) => n >= options.processes }),
      Effect.timeoutFail({
        duration: "120 seconds",
        onTimeout: () =>
          new Error(
            `the worker processes did not start within 120 s:\n${workers.slots.map((s) => s.output).join("\n")}`
          )
      })
    )
    yield* say(`chaos: ${options.processes} worker processes ready`)

    const startedAt = Date.now()
    const elapsed = () => `[${String(Math.round((Date.now() - startedAt) / 1_000)).padStart(4)}s]`
    const stats = Producer.makeStats()
    const injected: Array<Verify.Injected> = []

    // The fault injector: the seeded plan, until the duration has passed and every kind ran once.
    const plan = Faults.plan({
      seed: options.seed,
      durationMs,
      processes: options.processes,
      meanGapMs: options.quick ? 2_500 : 5_000,
      kinds
    })
    const leaseMs = Duration.toMillis(Scenario.timings.claimTimeout) +
      2 * Duration.toMillis(Scenario.timings.reapInterval)
    const running = (preferred: number) => {
      for (let i = 0; i < workers.slots.length; i++) {
        const slot = workers.slots[(Math.max(preferred, 0) + i) % workers.slots.length]!
        if (slot.pid !== undefined && !slot.stopped) return slot
      }
      return undefined
    }
    const terminate = (where: string) =>
      sql<{ readonly n: number }>`
        SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
        WHERE datname = ${databaseName} AND pid <> pg_backend_pid() AND ${sql.literal(where)}`.pipe(
        Effect.map((rows) => rows[0]?.n ?? 0),
        Effect.timeout("5 seconds"),
        Effect.retry(Schedule.spaced("300 millis").pipe(Schedule.compose(Schedule.recurs(20))))
      )
    const inject = (planned: Faults.Planned) =>
      Effect.gen(function*() {
        const record = (slot: number, pid: number | undefined): Verify.Injected => {
          const fault: Verify.Injected = { kind: planned.kind, slot, pid, start: Date.now(), end: Date.now(), note: "" }
          injected.push(fault)
          return fault
        }
        switch (planned.kind) {
          case "sigkill":
          case "sigterm": {
            const slot = running(planned.slot)
            if (slot === undefined) return record(planned.slot, undefined).note = "skipped"
            const fault = record(slot.index, slot.pid)
            fault.note = yield* workers.end(slot, planned.kind === "sigkill" ? "SIGKILL" : "SIGTERM", 15_000)
            yield* Effect.sleep(planned.holdMs)
            workers.start(slot)
            fault.end = Date.now()
            return
          }
          case "sigstop": {
            const slot = running(planned.slot)
            if (slot === undefined) return record(planned.slot, undefined).note = "skipped"
            const fault = record(slot.index, slot.pid)
            slot.stopped = true
            yield* workers.signal(slot, "SIGSTOP")
            yield* Effect.sleep(leaseMs + 1_000 + planned.holdMs)
            yield* workers.signal(slot, "SIGCONT")
            slot.stopped = false
            fault.end = Date.now()
            fault.note = `stopped ${fault.end - fault.start} ms`
            return
          }
          case "db-restart": {
            const fault = record(-1, undefined)
            yield* EmbeddedPostgres.stop(dataDir)
            yield* Effect.sleep(planned.holdMs)
            yield* EmbeddedPostgres.start({ dataDir, port, settings: serverSettings }).pipe(
              Effect.retry(Schedule.spaced("1 second").pipe(Schedule.compose(Schedule.recurs(30))))
            )
            fault.end = Date.now()
            fault.note = `down ${fault.end - fault.start} ms`
            return
          }
          case "terminate-backends": {
            if (planned.slot === -1) {
              const fault = record(-1, process.pid)
              fault.note = `${yield* terminate("application_name = 'chaos-producer'")} producer connections`
              fault.end = Date.now()
              return
            }
            const slot = running(planned.slot)
            if (slot === undefined) return record(planned.slot, undefined).note = "skipped"
            const fault = record(slot.index, slot.pid)
            fault.note = `${yield* terminate(`application_name = 'chaos-w${slot.index}'`)} connections`
            fault.end = Date.now()
            return
          }
          case "terminate-listen": {
            const fault = record(-1, undefined)
            fault.note = `${yield* terminate("application_name LIKE 'chaos-w%-listen'")} LISTEN connections`
            fault.end = Date.now()
            return
          }
        }
      })
    const injector = Effect.gen(function*() {
      for (let i = 0; i < plan.length; i++) {
        if (Date.now() - startedAt >= durationMs && i >= kinds.length) break
        yield* Effect.sleep(plan[i]!.gapMs)
        yield* inject(plan[i]!).pipe(
          Effect.catchAllCause((cause) => say(`chaos ${elapsed()} fault ${plan[i]!.kind} failed: ${cause}`))
        )
        const last = injected.at(-1)
        if (last !== undefined) {
          yield* say(
            `chaos ${elapsed()} fault ${last.kind}${last.slot >= 0 ? ` w${last.slot}` : ""}` +
              `${last.pid !== undefined ? ` (pid ${last.pid})` : ""}: ${last.note}`
          )
        }
      }
    })

    const counts = sql<{ readonly status: string; readonly n: number }>`
      SELECT status, count(*)::int AS n FROM ${sql(Scenario.tables.deliveries)} GROUP BY status`.pipe(
      Effect.map((rows) => Object.fromEntries(rows.map((row) => [row.status, row.n])) as Record<string, number>),
      Effect.timeout("5 seconds")
    )
    const progressOnce = Effect.gen(function*() {
      const status = yield* Effect.either(counts)
      const up = workers.slots.filter((slot) => slot.pid !== undefined && !slot.stopped).length
      const summary = status._tag === "Right"
        ? `delivered ${status.right.delivered ?? 0}, dead ${status.right.failed ?? 0}, pending ${
          status.right.pending ?? 0
        }, claimed ${status.right.claimed ?? 0}`
        : "database unavailable"
      yield* say(
        `chaos ${elapsed()} emitted ${stats.emitted}/${options.events}, ${summary}, faults ${injected.length}, ` +
          `workers up ${up}/${options.processes}`
      )
    })
    const progress = progressOnce.pipe(
      Effect.repeat(Schedule.spaced(options.quick ? "5 seconds" : "15 seconds")),
      Effect.delay("1 second")
    )

    const progressing = yield* Effect.fork(progress)
    const producing = yield* Effect.fork(withRuntime(Producer.run({
      events: options.events,
      rate: options.rate,
      seed: options.seed,
      startedAt,
      stats
    })))
    yield* injector
    yield* say(`chaos ${elapsed()} faults over (${injected.length}); waiting for the producer`)
    yield* Fiber.join(producing)
    yield* say(`chaos ${elapsed()} producer done (${stats.emitted} events); quiet period`)

    // Quiet period: every process running, nothing left to deliver.
    for (const slot of workers.slots) {
      if (slot.stopped) {
        yield* workers.signal(slot, "SIGCONT")
        slot.stopped = false
      }
    }
    const expected = options.events * Scenario.groups.length
    // The backlog may be large after a loaded run: wait while it shrinks, give up once it stalls.
    const stallMs = options.quick ? 30_000 : 120_000
    let open = Number.POSITIVE_INFINITY
    let progressedAt = Date.now()
    let settled = false
    while (!settled && Date.now() - progressedAt < stallMs) {
      const c = yield* Effect.either(counts)
      if (c._tag === "Right") {
        const now = (c.right.pending ?? 0) + (c.right.claimed ?? 0)
        const total = Object.values(c.right).reduce((a, b) => a + b, 0)
        settled = now === 0 && total >= expected
        if (now < open) progressedAt = Date.now()
        open = Math.min(open, now)
      }
      if (!settled) yield* Effect.sleep("500 millis")
    }
    if (!settled) {
      yield* say(`chaos ${elapsed()} the deliveries stopped settling (${open} open for ${stallMs / 1_000} s)`)
    }
    yield* Effect.sleep(Duration.times(Scenario.timings.reapInterval, 4))
    yield* Fiber.interrupt(progressing)
    yield* progressOnce
    const ends = yield* workers.closeAll(15_000)
    yield* say(`chaos ${elapsed()} workers stopped (${ends.join(", ")})`)

    fs.writeFileSync(path.join(dataDir, "faults.json"), JSON.stringify(injected, null, 1))
    const external = fs.readdirSync(logDir).flatMap((file) =>
      Scenario.parseLines(fs.readFileSync(path.join(logDir, file), "utf8"))
    )
    const verdict = yield* withRuntime(Verify.verify({
      events: stats.emitted,
      faults: injected,
      external,
      seed: options.seed,
      leaseMs: leaseMs + 2_000
    }))
    const violations = [...verdict.violations]
    if (stats.emitted !== options.events) violations.push(`the producer emitted ${stats.emitted} of ${options.events}`)
    if (options.quick) {
      for (const kind of kinds) {
        if (!verdict.injected.has(kind)) violations.push(`fault kind ${kind} was never injected`)
      }
      for (const kind of Object.values(Scenario.handlerFaults)) {
        if (!verdict.handlerFaults.has(kind)) violations.push(`handler fault ${kind} was never injected`)
      }
    }
    yield* say("")
    yield* say(`chaos report (seed ${options.seed}, ${Math.round((Date.now() - startedAt) / 1_000)} s)`)
    yield* say(
      `  events emitted         ${stats.emitted} (${stats.singles} single emits, ${stats.batched} in ${stats.batches} ` +
        `emitAll batches; ${stats.failedAttempts} failed attempts: ${stats.committedAnyway} had committed after all, ` +
        `${stats.notCommitted} had not and were emitted again)`
    )
    for (const line of verdict.lines) yield* say(line)
    // A process that exits before its pool started (its start overlapped an outage) is restarted;
    // one that exits after it started, without a fault asking for it, is a violation.
    const readyPids = new Set(
      (yield* withRuntime(sql<{ readonly pid: number }>`SELECT pid FROM ${sql(Scenario.tables.ready)}`)).map((row) =>
        row.pid
      )
    )
    const failedStarts = workers.unexpected.filter((exit) => !readyPids.has(exit.pid))
    const died = workers.unexpected.filter((exit) => readyPids.has(exit.pid))
    yield* say(`  failed worker start-ups  ${failedStarts.length} (started during an outage, exited, restarted)`)
    yield* say(
      `  running workers that died without a fault: ${died.length}${
        died.map((exit) => `\n    w${exit.slot} pid ${exit.pid}: ${exit.status}\n${exit.output}`).join("")
      }`
    )
    if (died.length > 0) violations.push(`${died.length} running worker processes died without a fault`)
    if (violations.length > 0) {
      yield* say(`  VIOLATIONS (${violations.length}):`)
      for (const violation of violations) yield* say(`    - ${violation}`)
    } else {
      yield* say("  no violations")
    }
    process.removeListener("exit", onExit)
    yield* say(`chaos: lost ${verdict.lost}, duplicated ${verdict.duplicated}, faults ${verdict.faultTotal}`)
    return violations.length === 0 ? 0 : 1
  })

let options: Options.Options
try {
  options = Options.parse(process.argv.slice(2), () => Math.floor(Math.random() * 1_000_000))
} catch (error) {
  if (!(error instanceof Options.OptionError)) throw error
  console.error(`chaos: ${error.message}\n\n${Options.usage}`)
  process.exit(2)
}

Effect.scoped(run(options)).pipe(
  Effect.tapErrorCause((cause) =>
    Effect.sync(() => {
      console.error(`chaos: the run itself failed:\n${Cause.pretty(cause)}`)
      console.log("chaos: lost -1, duplicated -1, faults -1")
    })
  ),
  Logger.withMinimumLogLevel(LogLevel.None),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) && typeof exit.value === "number" ? exit.value : 1)
  })
)
