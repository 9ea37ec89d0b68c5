import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { InvalidConfig } from "../../src/runtime/Errors.js"
import * as Event from "../../src/runtime/Event.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as RuntimeConfig from "../../src/runtime/RuntimeConfig.js"
import * as WorkerPool from "../../src/runtime/WorkerPool.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

class Ping extends Event.Class<Ping>()("test.Ping", { n: Schema.Number }) {}

const base = { name: "pings", event: Ping, handle: () => Effect.void }

const startFails = (handlers: ReadonlyArray<Handler.Handler<never>>, options: WorkerPool.Options = {}) =>
  Effect.scoped(Effect.flip(Layer.build(WorkerPool.layer(handlers, options))))

const expectInvalid = (error: unknown, expected: Partial<InvalidConfig>) => {
  const invalid = error as InvalidConfig
  assert.strictEqual(invalid._tag, "InvalidConfig")
  for (const [key, value] of Object.entries(expected)) {
    assert.strictEqual(invalid[key as keyof InvalidConfig], value, key)
  }
}

describe("Configuration", () => {
  it.layer(Runtime.layer)((it) => {
    it.effect("a bad handler option stops the pool at start, naming handler, field, value and rule", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const cases: ReadonlyArray<readonly [Handler.Handler<never>, Partial<InvalidConfig>]> = [
          [Handler.make({ ...base, batchSize: 0 }), {
            subject: "handler \"pings\"",
            field: "batchSize",
            value: "0",
            rule: "must be an integer from 1 to 10000"
          }],
          [Handler.make({ ...base, concurrency: 1.5 }), { field: "concurrency", value: "1.5" }],
          [Handler.make({ ...base, maxAttempts: -1 }), { field: "maxAttempts", value: "-1" }],
          [Handler.make({ ...base, pollInterval: "-5 seconds" as never }), {
            field: "pollInterval",
            rule: "must be a positive, finite duration"
          }],
          [Handler.make({ ...base, pollInterval: 0 }), { field: "pollInterval", value: "0" }],
          [Handler.make({ ...base, claimTimeout: "1 second", heartbeatInterval: "2 seconds" }), {
            field: "claimTimeout",
            value: "\"1 second\"",
            rule: "must be greater than the heartbeat interval (2s)"
          }],
          [Handler.make({ ...base, name: "" }), { field: "name", value: "\"\"" }],
          [Handler.make({ ...base, routingKey: [] }), { field: "routingKey", value: "[]" }],
          [Handler.make({ ...base, transaction: "sometimes" as never }), { field: "transaction" }]
        ]
        for (const [handler, expected] of cases) {
          expectInvalid(yield* startFails([handler]), expected)
        }
        const error = yield* startFails([Handler.make({ ...base, batchSize: 0 })])
        assert.strictEqual(
          (error as InvalidConfig).message,
          "handler \"pings\": invalid batchSize = 0: must be an integer from 1 to 10000"
        )
        // Nothing reached the database.
        const sql = yield* SqlClient.SqlClient
        const groups = yield* sql`SELECT name FROM sluice.consumer_groups`
        assert.deepStrictEqual(groups, [])
      }))

    it.effect("duplicate handler names and bad pool options are refused", () =>
      Effect.gen(function*() {
        expectInvalid(yield* startFails([Handler.make(base), Handler.make(base)]), {
          field: "handlers",
          value: "\"pings\""
        })
        expectInvalid(yield* startFails([Handler.make(base)], { shutdownTimeout: "soon" as never }), {
          subject: "worker pool",
          field: "shutdownTimeout",
          value: "\"soon\""
        })
        expectInvalid(yield* startFails([Handler.make(base)], { retention: -1 }), { field: "retention" })
      }))

    it.effect("pool options from configuration: durations parsed, a bad value names its variable", () =>
      Effect.gen(function*() {
        const read = (values: Record<string, string>) =>
          WorkerPool.config.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(values)))))
        const options = yield* read({ SLUICE_SHUTDOWN_TIMEOUT: "30 seconds", SLUICE_NOTIFICATIONS: "poll" })
        assert.strictEqual(Duration.toMillis(options.shutdownTimeout!), 30_000)
        assert.strictEqual(options.notifications?.mode, "poll")
        assert.strictEqual(options.notifications?.listenUrl, undefined)
        const defaults = yield* read({})
        assert.strictEqual(Duration.toMillis(defaults.retention!), Duration.toMillis(WorkerPool.defaults.retention))
        for (const zero of ["0", "0 seconds"]) {
          assert.strictEqual(Duration.toMillis((yield* read({ SLUICE_RETENTION: zero })).retention!), 0, zero)
        }
        assert.include(String(yield* Effect.flip(read({ SLUICE_REAP_INTERVAL: "0" }))), "positive, finite duration")
        const bad = yield* Effect.flip(read({ SLUICE_SHUTDOWN_TIMEOUT: "soon" }))
        assert.include(String(bad), "SLUICE_SHUTDOWN_TIMEOUT")
        const mode = yield* Effect.flip(read({ SLUICE_NOTIFICATIONS: "sometimes" }))
        assert.include(String(mode), "SLUICE_NOTIFICATIONS")
      }))

    it.effect("a schema name that is not a plain identifier is refused", () =>
      Effect.gen(function*() {
        for (const schema of ["Sluice", "a;drop", "x\"y", "", "a".repeat(60), "schéma"]) {
          expectInvalid(yield* Effect.flip(RuntimeConfig.make({ schema })), {
            field: "schema",
            value: JSON.stringify(schema)
          })
        }
      }))
  })
})
