/**
 * Every configuration field given a wrong value fails at start with a message naming the
 * field (or variable), the value and the rule. Table-driven: one row per field and kind
 * of mistake, for options given in code and for the same options read from variables.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as ArchiveConfig from "../../src/archive/ArchiveConfig.js"
import * as Database from "../../src/runtime/Database.js"
import * as EmbeddedPostgres from "../../src/runtime/EmbeddedPostgres.js"
import type { InvalidConfig } from "../../src/runtime/Errors.js"
import * as Event from "../../src/runtime/Event.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as RuntimeConfig from "../../src/runtime/RuntimeConfig.js"
import * as WorkerPool from "../../src/runtime/WorkerPool.js"
import * as Runtime from "../support/Runtime.js"

class Ping extends Event.Class<Ping>()("test.Ping", { n: Schema.Number }) {}

class LongType extends Event.Class<LongType>()("t".repeat(201), { n: Schema.Number }) {}

const base = { name: "pings", event: Ping, handle: () => Effect.void }

/** What a row expects of an `InvalidConfig`: field and value exactly, the rule's text in part. */
interface Expected {
  readonly field: string
  readonly value: string
  readonly rule: string
}

const expectInvalid = (label: string, error: unknown, expected: Expected) => {
  const invalid = error as InvalidConfig
  assert.strictEqual(invalid._tag, "InvalidConfig", label)
  assert.strictEqual(invalid.field, expected.field, `${label}: field`)
  assert.strictEqual(invalid.value, expected.value, `${label}: value`)
  assert.include(invalid.rule, expected.rule, `${label}: rule`)
  assert.include(invalid.message, `invalid ${expected.field} = ${expected.value}: `, `${label}: message`)
}

const read = <A>(config: Config.Config<A>, values: Record<string, string>) =>
  config.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(values)))))

/** A variable's failure names the variable, quotes the value and states the rule. */
const expectVariable = (label: string, error: unknown, variable: string, value: string, rule: string) => {
  const text = String(error)
  assert.include(text, variable, `${label}: names the variable`)
  assert.include(text, value, `${label}: shows the value`)
  assert.include(text, rule, `${label}: states the rule`)
}

const handlerRows: ReadonlyArray<readonly [Record<string, unknown>, Expected]> = [
  [{ name: "x".repeat(201) }, {
    field: "name",
    value: JSON.stringify("x".repeat(201)),
    rule: "at most 200 characters"
  }],
  [{ name: 42 }, { field: "name", value: "42", rule: "non-empty string" }],
  [{ event: Schema.Struct({ n: Schema.Number }) }, {
    field: "event",
    value: "a function",
    rule: "an event class (Event.Class)"
  }],
  [{ routingKey: "" }, { field: "routingKey", value: "\"\"", rule: "non-empty string" }],
  [{ routingKey: ["a", ""] }, { field: "routingKey", value: "[\"a\",\"\"]", rule: "non-empty list" }],
  [{ name: "a\u0000b" }, { field: "name", value: "\"a\\u0000b\"", rule: "without NUL" }],
  [{ routingKey: "k".repeat(201) }, {
    field: "routingKey",
    value: JSON.stringify("k".repeat(201)),
    rule: "at most 200"
  }],
  [{ event: LongType }, { field: "event", value: JSON.stringify(LongType._tag), rule: "at most 200 characters" }],
  [{ batchSize: 10_001 }, { field: "batchSize", value: "10001", rule: "from 1 to 10000" }],
  [{ batchSize: Number.NaN }, { field: "batchSize", value: "NaN", rule: "an integer" }],
  [{ maxAttempts: 0 }, { field: "maxAttempts", value: "0", rule: "from 1 to 1000000" }],
  [{ concurrency: 0 }, { field: "concurrency", value: "0", rule: "from 1 to 1000" }],
  [{ pollInterval: "soon" }, { field: "pollInterval", value: "\"soon\"", rule: "positive, finite duration" }],
  [{ claimTimeout: Infinity }, { field: "claimTimeout", value: "Infinity", rule: "positive, finite duration" }],
  [{ heartbeatInterval: -1 }, { field: "heartbeatInterval", value: "-1", rule: "positive, finite duration" }],
  [{ claimTimeout: "1 second", heartbeatInterval: "1 second" }, {
    field: "claimTimeout",
    value: "\"1 second\"",
    rule: "greater than the heartbeat interval (1s)"
  }],
  [{ retry: "exponential" }, { field: "retry", value: "\"exponential\"", rule: "an Effect Schedule" }],
  [{ transaction: "auto" }, { field: "transaction", value: "\"auto\"", rule: "\"handler\" or \"ack\"" }],
  [{ interleaveRoutingKeys: "yes" }, { field: "interleaveRoutingKeys", value: "\"yes\"", rule: "true or false" }],
  [{ timeout: "0 seconds" }, { field: "timeout", value: "\"0 seconds\"", rule: "positive, finite duration" }],
  [{ handle: undefined }, { field: "handle", value: "undefined", rule: "exactly one of handle or handleBatch" }],
  [{ handleBatch: () => Effect.void }, {
    field: "handle",
    value: "a function",
    rule: "exactly one of handle or handleBatch"
  }]
]

describe("Configuration validation", () => {
  it.effect("Handler: each option's wrong value, naming the handler, field, value and rule", () =>
    Effect.sync(() => {
      for (const [options, expected] of handlerRows) {
        const handler = Handler.make({ ...base, ...options } as never) as Handler.Handler<never>
        const label = `Handler ${JSON.stringify(Object.keys(options))}`
        assert.isTrue(Option.isSome(handler.problem), `${label}: refused`)
        const problem = Option.getOrThrow(handler.problem)
        assert.strictEqual(problem.subject, `handler ${JSON.stringify(handler.settings.name)}`)
        expectInvalid(label, problem, expected)
      }
      assert.isTrue(Option.isNone(Handler.make({ ...base, timeout: "5 seconds", interleaveRoutingKeys: true }).problem))
    }))

  it.effect("RuntimeConfig and SLUICE_SCHEMA", () =>
    Effect.gen(function*() {
      expectInvalid("schema", yield* Effect.flip(RuntimeConfig.make({ schema: "Public" })), {
        field: "schema",
        value: "\"Public\"",
        rule: "lower-case letters, digits, underscores"
      })
      const error = yield* Effect.flip(
        Layer.build(RuntimeConfig.layerConfig).pipe(
          Effect.scoped,
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["SLUICE_SCHEMA", "my-schema"]])))
        )
      )
      expectInvalid("SLUICE_SCHEMA", error, { field: "schema", value: "\"my-schema\"", rule: "must match" })
    }))

  it.scoped("Database options given in code fail before any connection", () =>
    Effect.gen(function*() {
      const rows: ReadonlyArray<readonly [Database.Options, Expected]> = [
        [{ maxConnections: 0 }, { field: "maxConnections", value: "0", rule: "from 1 to 10000" }],
        [{ maxConnections: 2.5 }, { field: "maxConnections", value: "2.5", rule: "an integer" }],
        [{ connectTimeout: "-1 seconds" }, {
          field: "connectTimeout",
          value: "\"-1 seconds\"",
          rule: "positive, finite"
        }],
        [{ connectTimeout: "whenever" as never }, { field: "connectTimeout", value: "\"whenever\"", rule: "positive" }],
        [{ applicationName: "" }, { field: "applicationName", value: "\"\"", rule: "1 to 63 printable ASCII" }],
        [{ applicationName: "wörker" }, { field: "applicationName", value: "\"wörker\"", rule: "printable ASCII" }],
        [{ applicationName: "a".repeat(64) }, {
          field: "applicationName",
          value: JSON.stringify("a".repeat(64)),
          rule: "1 to 63"
        }],
        [{ dataDir: "  " }, { field: "dataDir", value: "\"  \"", rule: "non-empty folder path" }],
        [{ url: "http://db/x" }, { field: "DATABASE_URL", value: "http://db/x", rule: "postgres:// or postgresql://" }],
        [{ url: "postgres:///x" }, { field: "DATABASE_URL", value: "postgres:///x", rule: "must name a host" }],
        [{ url: Redacted.make("not a url") }, {
          field: "DATABASE_URL",
          value: "<unparseable, 9 characters>",
          rule: "must be a URL"
        }]
      ]
      for (const [options, expected] of rows) {
        expectInvalid(`Database ${JSON.stringify(options)}`, yield* Effect.flip(Database.make(options)), expected)
      }
    }))

  it.scoped("EmbeddedPostgres options given in code fail before any server starts", () =>
    Effect.gen(function*() {
      const rows: ReadonlyArray<readonly [EmbeddedPostgres.Options, Expected]> = [
        [{ port: 70_000 }, { field: "port", value: "70000", rule: "between 1 and 65535" }],
        [{ maxConnections: 0 }, { field: "maxConnections", value: "0", rule: "positive integer" }],
        [{ dataDir: "" }, { field: "dataDir", value: "\"\"", rule: "non-empty folder path" }],
        [{ startTimeout: 0 }, { field: "startTimeout", value: "0", rule: "positive, finite duration" }],
        [{ settings: { "fsync=off -c x": "on" } }, {
          field: "settings",
          value: "{\"fsync=off -c x\":\"on\"}",
          rule: "setting names"
        }],
        [{ settings: { work_mem: "4MB\nshared_buffers=1" } }, {
          field: "settings",
          value: "{\"work_mem\":\"4MB\\nshared_buffers=1\"}",
          rule: "values one line"
        }]
      ]
      for (const [options, expected] of rows) {
        expectInvalid(
          `EmbeddedPostgres ${JSON.stringify(options)}`,
          yield* Effect.flip(EmbeddedPostgres.make(options)),
          expected
        )
      }
    }))

  it.effect("SLUICE_* and DATABASE_URL variables: the variable, the value and the rule", () =>
    Effect.gen(function*() {
      const rows: ReadonlyArray<readonly [Config.Config<unknown>, string, string, string]> = [
        [Database.config, "SLUICE_DB_MAX_CONNECTIONS", "0", "from 1 to 10000"],
        [Database.config, "SLUICE_DB_MAX_CONNECTIONS", "ten", "from 1 to 10000"],
        [Database.config, "SLUICE_DB_CONNECT_TIMEOUT", "-5 seconds", "positive, finite duration"],
        [Database.config, "SLUICE_DB_CONNECT_TIMEOUT", "0 millis", "positive, finite duration"],
        [Database.config, "SLUICE_DB_APPLICATION_NAME", "naïve", "printable ASCII"],
        [Database.config, "SLUICE_DATA_DIR", " ", "non-empty folder path"],
        [WorkerPool.config, "SLUICE_SHUTDOWN_TIMEOUT", "-5 seconds", "positive, finite duration"],
        [WorkerPool.config, "SLUICE_SHUTDOWN_TIMEOUT", "soon", "positive, finite duration"],
        [WorkerPool.config, "SLUICE_REAP_INTERVAL", "0 seconds", "positive, finite duration"],
        [WorkerPool.config, "SLUICE_RETENTION", "forever", "positive, finite duration"],
        [WorkerPool.config, "SLUICE_PRUNE_INTERVAL", "1 fortnight", "positive, finite duration"],
        [WorkerPool.config, "SLUICE_NOTIFICATIONS", "push", "Expected one of (listen, poll)"]
      ]
      for (const [config, variable, value, rule] of rows) {
        const error = yield* Effect.flip(read(config, { [variable]: value }))
        expectVariable(`${variable}=${value}`, error, variable, JSON.stringify(value), rule)
      }
    }))

  it.scoped("DATABASE_URL through Database.layerConfig: refused before connecting, password hidden", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Layer.build(Database.layerConfig).pipe(
          Effect.withConfigProvider(
            ConfigProvider.fromMap(new Map([["DATABASE_URL", "mysql://app:hunter2@db:3306/app"]]))
          )
        )
      )
      expectInvalid("DATABASE_URL", error, {
        field: "DATABASE_URL",
        value: "mysql://app:***@db:3306/app",
        rule: "postgres:// or postgresql://"
      })
    }))

  it.effect("ARCHIVE_* variables: the variable, the value and the rule", () =>
    Effect.gen(function*() {
      const rows: ReadonlyArray<readonly [string, string, string]> = [
        ["ARCHIVE_DOMAIN", "Not A Domain", "lower-case DNS name"],
        ["ARCHIVE_SCHEMA", "archive; DROP", "must match"],
        ["ARCHIVE_INDEXES", "", "at least one backend"],
        ["ARCHIVE_INDEXES", "vector=faiss", "use keyword or vector"],
        ["ARCHIVE_INDEXES", "Bad Name=vector", "must match"],
        ["ARCHIVE_INDEXES", "a=vector,a=keyword", "twice"],
        ["ARCHIVE_SINCE", "yesterday", "must be YYYY-MM-DD"],
        ["ARCHIVE_LIMIT", "0", "must be an integer ≥ 1"],
        ["ARCHIVE_LIMIT", "lots", "must be an integer ≥ 1"],
        ["ARCHIVE_CHUNK_SIZE", "501", "from 1 to 500"],
        ["ARCHIVE_CURATION", "sometimes", "Expected one of (auto, manual)"]
      ]
      for (const [variable, value, rule] of rows) {
        const error = yield* Effect.flip(read(ArchiveConfig.config, { [variable]: value }))
        expectVariable(`${variable}=${value}`, error, variable, JSON.stringify(value), rule)
      }
      const fine = yield* read(ArchiveConfig.config, { ARCHIVE_LIMIT: "10", ARCHIVE_CHUNK_SIZE: "500" })
      assert.deepStrictEqual(fine.initialRuns.map((run) => [run.limit, run.chunkSize]), [[10, 500]])
    }))

  it.layer(Runtime.layer)((it) => {
    it.scoped("WorkerPool options given in code: refused at start, before the database is touched", () =>
      Effect.gen(function*() {
        const rows: ReadonlyArray<readonly [WorkerPool.Options, Expected]> = [
          [{ shutdownTimeout: "-1 seconds" }, { field: "shutdownTimeout", value: "\"-1 seconds\"", rule: "positive" }],
          [{ reapInterval: 0 }, { field: "reapInterval", value: "0", rule: "positive, finite duration" }],
          [{ retention: Infinity }, { field: "retention", value: "Infinity", rule: "positive, finite duration" }],
          [{ pruneInterval: { minutes: 1 } as never }, {
            field: "pruneInterval",
            value: "{\"minutes\":1}",
            rule: "positive"
          }],
          [{ notifications: { mode: "push" as never } }, {
            field: "notifications.mode",
            value: "\"push\"",
            rule: "\"listen\" or \"poll\""
          }],
          [{ notifications: { listenUrl: Redacted.make("mysql://u:pw@h/db") } }, {
            field: "notifications.listenUrl (SLUICE_LISTEN_URL)",
            value: "mysql://u:***@h/db",
            rule: "postgres:// or postgresql://"
          }]
        ]
        for (const [options, expected] of rows) {
          const error = yield* Effect.flip(Layer.build(WorkerPool.layer([Handler.make(base)], options)))
          expectInvalid(`WorkerPool ${JSON.stringify(Object.keys(options))}`, error, expected)
        }
      }))
  })
})
