/**
 * A worker process of the chaos run: a worker pool with the three chaos consumer groups,
 * until SIGTERM. Configured by environment variables: `CHAOS_URL`, `CHAOS_SLOT`,
 * `CHAOS_SEED`, `CHAOS_LOG_DIR`.
 *
 * Each handler attempt first consults {@link Scenario.decide} (a seeded function of event,
 * attempt and group): it fails, dies, hangs past the claim timeout, or succeeds. A
 * successful attempt performs its "external" effect (a line appended to this process's
 * log file, outside any transaction) and then records itself in `chaos.effects` through
 * the runtime's transaction, with the claim token it holds.
 *
 * Run: `node --import tsx test/chaos/worker.ts`
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Database from "../../src/runtime/Database.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Sluice from "../../src/runtime/Sluice.js"
import * as WorkerPool from "../../src/runtime/WorkerPool.js"
import * as Scenario from "./Scenario.js"

const config = Config.all({
  url: Config.string("CHAOS_URL"),
  slot: Config.integer("CHAOS_SLOT"),
  seed: Config.integer("CHAOS_SEED"),
  logDir: Config.string("CHAOS_LOG_DIR"),
  retentionZero: Config.boolean("CHAOS_RETENTION_ZERO").pipe(Config.withDefault(false))
})

const retry = Schedule.exponential("100 millis", 2).pipe(Schedule.union(Schedule.spaced("1 second")))

const handlers = (seed: number, log: (line: string) => void) => {
  const external = (kind: Scenario.ExternalLine["kind"], group: string, delivery: Handler.Delivery<Scenario.Tick>) =>
    Effect.sync(() =>
      log(Scenario.formatLine({
        kind,
        group,
        n: delivery.event.n,
        eventId: delivery.eventId,
        attempt: delivery.attempt,
        token: delivery.claimToken,
        pid: process.pid,
        at: Date.now()
      }))
    )

  const record = (group: string, deliveries: ReadonlyArray<Handler.Delivery<Scenario.Tick>>) =>
    deliveries.length === 0 ?
      Effect.void :
      Effect.flatMap(
        SqlClient.SqlClient,
        (sql) =>
          sql`INSERT INTO ${sql(Scenario.tables.effects)} ${
            sql.insert(deliveries.map((delivery) => ({
              consumer_group: group,
              n: delivery.event.n,
              event_id: delivery.eventId,
              claim_token: delivery.claimToken,
              attempt: delivery.attempt,
              pid: process.pid
            })))
          }`.pipe(Effect.asVoid)
      )

  const failure = (behaviour: "fail" | "defect" | "permanent", delivery: Handler.Delivery<Scenario.Tick>) => {
    const what = `chaos ${behaviour} on event ${delivery.event.n}, attempt ${delivery.attempt}`
    switch (behaviour) {
      case "fail":
        return Effect.fail(new Scenario.ChaosFailure({ message: what }))
      case "defect":
        return Effect.die(new Error(what))
      case "permanent":
        return Effect.fail(new Handler.Permanent({ message: what }))
    }
  }

  return Scenario.groups.map((group) => {
    const common = {
      name: group.name,
      event: Scenario.Tick,
      batchSize: group.batchSize,
      concurrency: Scenario.timings.concurrency,
      maxAttempts: Scenario.timings.maxAttempts,
      claimTimeout: Scenario.timings.claimTimeout,
      pollInterval: Scenario.timings.pollInterval,
      retry
    }
    if (group.style === "single") {
      return Handler.make({
        ...common,
        handle: (event) =>
          Effect.gen(function*() {
            const current = yield* Effect.serviceOption(Handler.CurrentDelivery)
            if (Option.isNone(current)) return yield* Effect.die(new Error("no CurrentDelivery in a handler"))
            const delivery = current.value as Handler.Delivery<Scenario.Tick>
            const behaviour = Scenario.decide(seed, group.name, event.n, delivery.attempt)
            if (behaviour !== "ok") yield* external(behaviour, group.name, delivery)
            if (behaviour === "hang") yield* Effect.sleep(Scenario.hangFor)
            else if (behaviour !== "ok") return yield* failure(behaviour, delivery)
            yield* external("done", group.name, delivery)
            yield* record(group.name, [delivery])
          })
      })
    }
    return Handler.make({
      ...common,
      handleBatch: (deliveries) =>
        Effect.gen(function*() {
          const behaviours = deliveries.map((d) => Scenario.decide(seed, group.name, d.event.n, d.attempt))
          for (let i = 0; i < deliveries.length; i++) {
            if (behaviours[i] !== "ok") yield* external(behaviours[i] as "fail", group.name, deliveries[i]!)
          }
          const dying = behaviours.indexOf("defect")
          if (dying >= 0) return yield* failure("defect", deliveries[dying]!)
          if (behaviours.includes("hang")) yield* Effect.sleep(Scenario.hangFor)
          const succeeded = deliveries.filter((_, i) => behaviours[i] === "ok" || behaviours[i] === "hang")
          for (const delivery of succeeded) yield* external("done", group.name, delivery)
          yield* record(group.name, succeeded)
          return Handler.outcomes(behaviours.map((behaviour, i) => {
            const what = `chaos ${behaviour} on event ${deliveries[i]!.event.n}, attempt ${deliveries[i]!.attempt}`
            return behaviour === "fail"
              ? Handler.Outcome.retry(new Scenario.ChaosFailure({ message: what }))
              : behaviour === "permanent"
              ? Handler.Outcome.permanent(new Handler.Permanent({ message: what }))
              : Handler.Outcome.succeeded
          }))
        })
    })
  })
}

const Main = Layer.unwrapEffect(Effect.gen(function*() {
  const settings = yield* config
  fs.mkdirSync(settings.logDir, { recursive: true })
  const fd = fs.openSync(path.join(settings.logDir, `w${settings.slot}-${process.pid}.log`), "a")
  // A synchronous append: once written, a SIGKILL cannot take the line back.
  const log = (line: string) => {
    fs.writeSync(fd, line)
  }
  const announce = Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`INSERT INTO ${sql(Scenario.tables.ready)} ${sql.insert({ slot: settings.slot, pid: process.pid })}`
  )
  return Layer.effectDiscard(announce).pipe(
    Layer.provide(WorkerPool.layer(handlers(settings.seed, log), {
      reapInterval: Scenario.timings.reapInterval,
      shutdownTimeout: Scenario.timings.shutdownTimeout,
      ...(settings.retentionZero ? { retention: 0, pruneInterval: Scenario.timings.pruneInterval } : {})
    })),
    Layer.provide(Sluice.layer({ migrate: false })),
    Layer.provide(Database.layer({
      url: settings.url,
      applicationName: `chaos-w${settings.slot}`,
      maxConnections: 8,
      connectTimeout: "3 seconds"
    }))
  )
}))

Layer.launch(Main).pipe(
  Logger.withMinimumLogLevel(LogLevel.Warning),
  NodeRuntime.runMain
)
