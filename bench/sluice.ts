/**
 * sluice through its public API: an `Event.Class`, `Outbox.emitAllOf` (a batch of plain
 * payloads, like the peers' batch inserts), `Outbox.emitAll` (of instances) / `Outbox.emit`,
 * `Handler.make` with a no-op `handleBatch`, and `WorkerPool.layer`. Logs at Warning and
 * above (the worker logs every batch at Info). Profile `tuned`: a retention of zero, so the
 * acknowledgement deletes each delivery instead of marking it delivered.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { Database, Event, Handler, Outbox, Sluice, WorkerPool } from "../src/runtime/index.js"
import { runChild } from "./child.js"
import type { Consumer, ConsumerOptions, Contender, Producer } from "./contender.js"
import type { Payload } from "./protocol.js"

class Tick extends Event.Class<Tick>()("bench.Tick", { n: Schema.Number, at: Schema.Number }) {}

/** Only the install runs the migrations: the other children find the schema in place. */
const runtimeLayer = (url: string, migrate = false) =>
  Sluice.layer({ migrate }).pipe(
    Layer.provideMerge(Database.layer({ url })),
    Layer.provideMerge(Logger.minimumLogLevel(LogLevel.Warning))
  )

/** What the runtime layer provides: everything a worker pool needs. */
type Services = Layer.Layer.Success<ReturnType<typeof runtimeLayer>>

const runtimeFor = (url: string, migrate = false): ManagedRuntime.ManagedRuntime<Services, unknown> =>
  ManagedRuntime.make(runtimeLayer(url, migrate))

const handlers = (options: Pick<ConsumerOptions, "groups" | "batch" | "concurrency" | "onHandle">) =>
  options.groups.map((name) =>
    Handler.make({
      name,
      event: Tick,
      batchSize: options.batch,
      concurrency: options.concurrency,
      handleBatch: (deliveries) => Effect.sync(() => options.onHandle(deliveries.map((delivery) => delivery.event)))
    })
  )

/** Starts the pool in a scope of its own; closing the scope stops it. */
const startPool = (
  runtime: ManagedRuntime.ManagedRuntime<Services, unknown>,
  pool: Layer.Layer<never, unknown, Services>
): Promise<Scope.CloseableScope> =>
  runtime.runPromise(Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Layer.buildWithScope(pool, scope)
    return scope
  }))

export const sluice: Contender = {
  name: "sluice",
  install: async (url, _profile, groups) => {
    // Migrations run when the runtime starts; the pool registers the groups and their subscriptions.
    const runtime = runtimeFor(url, true)
    const pool = WorkerPool.layer(handlers({ groups, batch: 1, concurrency: 1, onHandle: () => {} }))
    await runtime.runPromise(Scope.close(await startPool(runtime, pool), Exit.void))
    await runtime.dispose()
  },
  producer: async (url): Promise<Producer> => {
    const runtime = runtimeFor(url)
    await runtime.runtime()
    const tick = (payload: Payload) => new Tick({ n: payload.n, at: payload.at })
    return {
      emitBatch: (batch) => runtime.runPromise(Outbox.emitAllOf(Tick, batch)),
      emitInstances: (batch) => runtime.runPromise(Outbox.emitAll(batch.map(tick))),
      emitOne: (payload) => runtime.runPromise(Outbox.emit(tick(payload))),
      close: () => runtime.dispose()
    }
  },
  consumer: async (url, options): Promise<Consumer> => {
    const runtime = runtimeFor(url)
    await runtime.runtime()
    const pool = WorkerPool.layer(
      handlers(options),
      options.prune
        ? { retention: "1 millis", pruneInterval: "1 seconds" }
        : options.profile === "tuned" || options.profile === "lean"
        ? { retention: 0 }
        : {}
    )
    let scope: Scope.CloseableScope | undefined
    return {
      start: async () => {
        scope = await startPool(runtime, pool)
      },
      stop: async () => {
        if (scope !== undefined) await runtime.runPromise(Scope.close(scope, Exit.void))
        await runtime.dispose()
      }
    }
  }
}

await runChild(sluice)
