/**
 * The worker pool: a scoped Layer that registers its handlers' consumer groups and
 * subscriptions, then forks `concurrency` claim loops per handler, one LISTEN
 * connection, one poller per distinct poll interval, the reaper and the retention pruner,
 * all in its scope. Closing the scope stops them: loops stop claiming, in-flight batches
 * get `shutdownTimeout` to finish, and what is still unfinished is released without
 * counting an attempt.
 *
 * @example
 * ```ts
 * const Main = WorkerPool.layer([ValidateDeposition, IndexKeyword]).pipe(
 *   Layer.provide(Sluice.layer()),
 *   Layer.provide(Database.layer())
 * )
 * Layer.launch(Main).pipe(NodeRuntime.runMain)
 * ```
 */
import type * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Database from "./Database.js"
import * as DepthSampler from "./DepthSampler.js"
import { InvalidConfig, type StoreError } from "./Errors.js"
import type { Handler } from "./Handler.js"
import { checked, durationVariable, nonNegativeDuration, positiveDuration, show } from "./internal/configRules.js"
import * as Notifier from "./Notifier.js"
import * as Poller from "./Poller.js"
import * as Reaper from "./Reaper.js"
import * as Retention from "./Retention.js"
import type { RuntimeConfig } from "./RuntimeConfig.js"
import { Store } from "./Store.js"
import * as Worker from "./Worker.js"

/** Options of a worker pool. */
export interface Options {
  /** How long in-flight batches may run on after the pool is asked to stop. Default 10 seconds. */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
  /** How often the reaper looks for expired leases. Default every 5 seconds. */
  readonly reapInterval?: Duration.DurationInput | undefined
  /**
   * How long delivered and skipped deliveries are kept. Default 1 day. Zero deletes a
   * delivery in its acknowledgement (the cheapest drain, and nothing left to inspect).
   */
  readonly retention?: Duration.DurationInput | undefined
  /** How often retention pruning runs. Default every minute. */
  readonly pruneInterval?: Duration.DurationInput | undefined
  /** LISTEN/NOTIFY wake-ups: see {@link Notifier.Options}. */
  readonly notifications?: Notifier.Options | undefined
  /**
   * Queue depth gauges sampled by one leader-elected process (see {@link DepthSampler}):
   * `true` or options to run a sampler in this pool. Default off.
   */
  readonly depthSampler?: boolean | DepthSampler.Options | undefined
}

export const defaults = {
  shutdownTimeout: Duration.seconds(10),
  reapInterval: Duration.seconds(5),
  retention: Duration.days(1),
  pruneInterval: Duration.minutes(1)
}

/** The services a set of handlers needs. */
export type HandlerContext<H> = H extends Handler<infer R> ? R : never

const invalid = (field: string, value: unknown, rule: string) =>
  new InvalidConfig({ subject: "worker pool", field, value: show(value), rule })

const checkDuration = (
  field: string,
  value: Duration.DurationInput | undefined,
  fallback: Duration.Duration,
  rule: (value: unknown) => Either.Either<Duration.Duration, string> = positiveDuration
) =>
  value === undefined
    ? Effect.succeed(fallback)
    : Either.match(rule(value), {
      onLeft: (rule) => Effect.fail(invalid(field, value, rule)),
      onRight: Effect.succeed
    })

const checkNotifications = (options: Notifier.Options | undefined) =>
  Effect.gen(function*() {
    if (options === undefined) return
    if (options.mode !== undefined && options.mode !== "listen" && options.mode !== "poll") {
      return yield* invalid("notifications.mode", options.mode, "must be \"listen\" or \"poll\"")
    }
    if (options.listenUrl !== undefined) {
      if (!Redacted.isRedacted(options.listenUrl)) {
        return yield* invalid("notifications.listenUrl", typeof options.listenUrl, "must be a Redacted URL")
      }
      yield* Database.parseUrl(Redacted.value(options.listenUrl)).pipe(
        Effect.mapError((error) =>
          new InvalidConfig({
            subject: "worker pool",
            field: "notifications.listenUrl (SLUICE_LISTEN_URL)",
            value: error.value,
            rule: error.rule
          })
        )
      )
    }
  })

const validate = (handlers: ReadonlyArray<Handler<unknown>>) =>
  Effect.gen(function*() {
    const seen = new Set<string>()
    for (const handler of handlers) {
      if (Option.isSome(handler.problem)) return yield* handler.problem.value
      if (seen.has(handler.settings.name)) {
        return yield* new InvalidConfig({
          subject: "worker pool",
          field: "handlers",
          value: JSON.stringify(handler.settings.name),
          rule: "handler names are consumer groups and must be unique"
        })
      }
      seen.add(handler.settings.name)
    }
  })

/**
 * Starts the handlers. Fails at start with `InvalidConfig` for a bad handler or pool
 * option (naming the handler, field, value and rule), before touching the database.
 */
export const layer = <const H extends ReadonlyArray<Handler<unknown>>>(
  handlers: H,
  options: Options = {}
): Layer.Layer<
  never,
  InvalidConfig | StoreError,
  HandlerContext<H[number]> | Store | SqlClient.SqlClient | PgClient.PgClient | RuntimeConfig
> =>
  Layer.scopedDiscard(Effect.gen(function*() {
    yield* validate(handlers)
    const shutdownTimeout = yield* checkDuration("shutdownTimeout", options.shutdownTimeout, defaults.shutdownTimeout)
    const reapInterval = yield* checkDuration("reapInterval", options.reapInterval, defaults.reapInterval)
    const retention = yield* checkDuration("retention", options.retention, defaults.retention, nonNegativeDuration)
    const pruneInterval = yield* checkDuration("pruneInterval", options.pruneInterval, defaults.pruneInterval)
    const acknowledgement = Duration.toMillis(retention) === 0 ? "delete" : "mark"
    const depthSampler = options.depthSampler === undefined || options.depthSampler === false
      ? undefined
      : yield* DepthSampler.checkOptions(options.depthSampler === true ? {} : options.depthSampler)
    yield* checkNotifications(options.notifications)

    const store = yield* Store
    const now = yield* Clock.currentTimeMillis
    for (const handler of handlers) {
      const { claimTimeout, eventType, interleaveRoutingKeys, maxAttempts, name, routingKeys } = handler.settings
      yield* store.registerGroup({
        name,
        claimTimeoutMs: Duration.toMillis(claimTimeout),
        maxAttempts,
        interleave: interleaveRoutingKeys,
        subscriptions: (routingKeys ?? [null]).map((routingKey) => ({ eventType, routingKey }))
      }, new Date(now))
    }

    const notifier = yield* Notifier.make(options.notifications)
    const stopping = yield* Deferred.make<void>()
    const byPollInterval = Object.values(
      Arr.groupBy(handlers, (handler) => String(Duration.toMillis(handler.settings.pollInterval)))
    )
    const loops = yield* Effect.forEach(byPollInterval, (sameInterval) =>
      Effect.gen(function*() {
        const poller = yield* Poller.make(
          sameInterval.map((handler) => handler.settings.name),
          sameInterval[0].settings.pollInterval
        )
        return yield* Effect.forEach(sameInterval, (handler) =>
          Effect.forEach(
            Array.from({ length: handler.settings.concurrency }),
            () => Effect.forkScoped(Worker.run(handler, { stopping, poller, acknowledgement }))
          ))
      })).pipe(Effect.provideService(Notifier.Notifier, notifier))
    yield* Effect.forkScoped(Reaper.run(Schedule.spaced(reapInterval)))
    yield* Effect.forkScoped(Retention.run(retention, Schedule.spaced(pruneInterval)))
    if (depthSampler !== undefined) yield* DepthSampler.make(depthSampler)

    const fibers = loops.flat(2)
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* Deferred.succeed(stopping, undefined)
        // Finalizers run uninterruptibly, and a timeout cannot interrupt an uninterruptible
        // wait: make the wait interruptible, or the deadline never fires.
        const finished = yield* Fiber.awaitAll(fibers).pipe(Effect.interruptible, Effect.timeoutOption(shutdownTimeout))
        if (Option.isNone(finished)) {
          yield* Effect.logWarning(
            `in-flight batches did not finish within ${Duration.format(shutdownTimeout)}; releasing them`
          )
          yield* Fiber.interruptAll(fibers)
        }
      })
    )
    yield* Effect.logInfo(`worker pool started: ${handlers.length} handlers, ${fibers.length} claim loops`)
  })) as Layer.Layer<
    never,
    InvalidConfig | StoreError,
    HandlerContext<H[number]> | Store | SqlClient.SqlClient | PgClient.PgClient | RuntimeConfig
  >

/**
 * The pool's options from configuration: `SLUICE_SHUTDOWN_TIMEOUT`, `SLUICE_REAP_INTERVAL`,
 * `SLUICE_RETENTION`, `SLUICE_PRUNE_INTERVAL` (durations such as `30 seconds`),
 * `SLUICE_NOTIFICATIONS` (`listen` or `poll`), `SLUICE_LISTEN_URL` (redacted) and
 * `SLUICE_DEPTH_SAMPLE_INTERVAL` (runs the depth sampler; unset: off).
 */
export const config: Config.Config<Options> = Config.all({
  shutdownTimeout: durationVariable("SLUICE_SHUTDOWN_TIMEOUT").pipe(
    Config.withDefault(defaults.shutdownTimeout),
    Config.withDescription("how long in-flight batches may run on after stop is asked")
  ),
  reapInterval: durationVariable("SLUICE_REAP_INTERVAL").pipe(
    Config.withDefault(defaults.reapInterval),
    Config.withDescription("how often the reaper looks for expired leases")
  ),
  retention: checked("SLUICE_RETENTION", nonNegativeDuration).pipe(
    Config.withDefault(defaults.retention),
    Config.withDescription("how long delivered and skipped deliveries are kept (0: deleted when acknowledged)")
  ),
  pruneInterval: durationVariable("SLUICE_PRUNE_INTERVAL").pipe(
    Config.withDefault(defaults.pruneInterval),
    Config.withDescription("how often retention pruning runs")
  ),
  notifications: Config.all({
    mode: Config.literal("listen", "poll")("SLUICE_NOTIFICATIONS").pipe(
      Config.withDefault("listen" as const),
      Config.withDescription("listen: wake loops with LISTEN/NOTIFY; poll: polling only")
    ),
    listenUrl: Config.option(Config.redacted("SLUICE_LISTEN_URL")).pipe(
      Config.map(Option.getOrUndefined),
      Config.withDescription("a direct URL for LISTEN when the main one goes through a transaction-mode pooler")
    )
  }),
  depthSampler: Config.option(durationVariable("SLUICE_DEPTH_SAMPLE_INTERVAL")).pipe(
    Config.map(Option.match({ onNone: () => undefined, onSome: (interval) => ({ interval }) })),
    Config.withDescription("run the leader-elected queue depth sampler at this interval (unset: off)")
  )
})

/** {@link layer} with its options read from {@link config}. */
export const layerConfig = <const H extends ReadonlyArray<Handler<unknown>>>(handlers: H) =>
  Layer.unwrapEffect(Effect.map(config, (options) => layer(handlers, options)))
