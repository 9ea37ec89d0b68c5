/**
 * Wake-ups over LISTEN/NOTIFY. One dedicated connection per process listens on the
 * runtime's channel; a notification names a consumer group and wakes that group's
 * claim loops. The connection reconnects by itself with backoff and, on every
 * (re)connect, wakes every loop, since notifications sent while it was down are lost.
 * Polling stays the fallback, so a missed wake-up costs at most a poll interval.
 *
 * Behind a pooler in transaction mode (PgBouncer) LISTEN cannot work: give a separate
 * `listenUrl` that reaches PostgreSQL directly, or turn listening off (poll only).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import pg from "pg"
import { DatabaseUnavailable } from "./Errors.js"
import { RuntimeConfig } from "./RuntimeConfig.js"

/** Options for the notifier. */
export interface Options {
  /** `"listen"` (default) wakes loops at commit; `"poll"` relies on polling alone. */
  readonly mode?: "listen" | "poll" | undefined
  /** A URL for the LISTEN connection when the main one goes through a transaction-mode pooler. */
  readonly listenUrl?: Redacted.Redacted<string> | undefined
}

export interface NotifierService {
  /**
   * A wake-up signal for one loop of `group`: `take` completes when the group is notified.
   * The loop may offer to it too, to wake itself for another reason.
   */
  readonly subscribe: (group: string) => Effect.Effect<Queue.Queue<void>, never, Scope.Scope>
  /** Wakes every loop of a group in this process (used after local emits in tests and tools). */
  readonly wake: (group: string) => void
}

/** The process's wake-up source, as a service. */
export class Notifier extends Context.Tag("sluice/Notifier")<Notifier, NotifierService>() {}

const reconnect = Schedule.exponential(Duration.millis(100), 2).pipe(
  Schedule.union(Schedule.spaced(Duration.seconds(5)))
)

const connectionConfig = (client: PgClient.PgClient, options: Options): pg.ClientConfig => {
  if (options.listenUrl !== undefined) return { connectionString: Redacted.value(options.listenUrl) }
  const config = client.config
  if (config.url !== undefined) return { connectionString: Redacted.value(config.url) }
  const result: pg.ClientConfig = {}
  if (config.host !== undefined) result.host = config.host
  if (config.port !== undefined) result.port = config.port
  if (config.database !== undefined) result.database = config.database
  if (config.username !== undefined) result.user = config.username
  if (config.password !== undefined) result.password = Redacted.value(config.password)
  return result
}

/** Builds the notifier; with `mode: "listen"` it forks its listening fiber into the scope. */
export const make = (
  options: Options = {}
): Effect.Effect<NotifierService, never, PgClient.PgClient | RuntimeConfig | Scope.Scope> =>
  Effect.gen(function*() {
    const waiters = new Map<string, Set<Queue.Queue<void>>>()
    const wake = (group: string) => {
      const set = waiters.get(group)
      if (set) { for (const queue of set) Queue.unsafeOffer(queue, undefined) }
    }
    const wakeAll = () => {
      for (const group of waiters.keys()) wake(group)
    }
    const subscribe = (group: string) =>
      Effect.acquireRelease(
        Effect.tap(Queue.sliding<void>(1), (queue) =>
          Effect.sync(() => {
            const set = waiters.get(group) ?? new Set()
            set.add(queue)
            waiters.set(group, set)
          })),
        (queue) =>
          Effect.sync(() => {
            waiters.get(group)?.delete(queue)
          })
      )

    if ((options.mode ?? "listen") === "listen") {
      const client = yield* PgClient.PgClient
      const { channel } = yield* RuntimeConfig
      const config = {
        ...connectionConfig(client, options),
        application_name: `${client.config.applicationName ?? "sluice"}-listen`
      }
      const session = (listening: Effect.Effect<void>) =>
        Effect.scoped(Effect.gen(function*() {
          const connection = yield* Effect.acquireRelease(
            Effect.tryPromise({
              try: async () => {
                const c = new pg.Client(config)
                c.on("error", () => {})
                await c.connect()
                return c
              },
              catch: (cause) => new DatabaseUnavailable({ message: "LISTEN connection failed", cause })
            }),
            (c) =>
              Effect.promise(() => c.end().catch(() => undefined)).pipe(
                Effect.interruptible,
                Effect.timeoutOption(1000)
              )
          )
          const lost = Effect.async<never, DatabaseUnavailable>((resume) => {
            const onError = (cause: Error) =>
              resume(Effect.fail(new DatabaseUnavailable({ message: "LISTEN connection lost", cause })))
            const onEnd = () => resume(Effect.fail(new DatabaseUnavailable({ message: "LISTEN connection ended" })))
            connection.on("error", onError)
            connection.on("end", onEnd)
            return Effect.sync(() => {
              connection.off("error", onError)
              connection.off("end", onEnd)
            })
          })
          connection.on("notification", (message) => {
            if (message.channel === channel && message.payload) wake(message.payload)
          })
          yield* Effect.tryPromise({
            try: () => connection.query(`LISTEN ${pg.escapeIdentifier(channel)}`),
            catch: (cause) => new DatabaseUnavailable({ message: "LISTEN failed", cause })
          })
          yield* Effect.logDebug("listening for wake-ups").pipe(Effect.annotateLogs("channel", channel))
          yield* listening
          wakeAll()
          return yield* lost
        }))
      const backoff = yield* Schedule.driver(reconnect)
      yield* session(backoff.reset).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning(`${error.message}; reconnecting`).pipe(
            Effect.zipRight(Effect.orElse(backoff.next(undefined), () => Effect.void))
          )
        ),
        Effect.forever,
        Effect.interruptible,
        Effect.forkScoped
      )
    }
    return { subscribe, wake }
  })

/** The notifier as a scoped layer. */
export const layer = (options: Options = {}): Layer.Layer<Notifier, never, PgClient.PgClient | RuntimeConfig> =>
  Layer.scoped(Notifier, make(options))
