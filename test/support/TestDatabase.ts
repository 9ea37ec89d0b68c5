/**
 * A database per test file, cloned from the migrated template that `test/globalSetup.ts`
 * prepares (`CREATE DATABASE … TEMPLATE sluice_template`), dropped when the file's layer
 * closes. Provides what `Database.layer` does (`PgClient`, `SqlClient`, `DatabaseUrl`, the
 * pool the store runs on), `RuntimeConfig` (schema `sluice`) and {@link TestDatabase} (name
 * and plain URL, for child processes).
 *
 * @example
 * ```ts
 * import { it } from "@effect/vitest"
 * import * as TestDatabase from "./support/TestDatabase.js"
 *
 * it.layer(TestDatabase.layer)("Outbox", (it) => {
 *   it.effect("emits", () =>
 *     Effect.gen(function*() {
 *       yield* TestDatabase.truncate
 *       const sql = yield* SqlClient.SqlClient
 *       // …
 *     }))
 * })
 * ```
 */
import type * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { inject } from "vitest"
import * as Database from "../../src/runtime/Database.js"
import * as EmbeddedPostgres from "../../src/runtime/EmbeddedPostgres.js"
import type { DatabaseUnavailable, InvalidConfig } from "../../src/runtime/Errors.js"
import type * as Statements from "../../src/runtime/internal/Statements.js"
import * as RuntimeConfig from "../../src/runtime/RuntimeConfig.js"
import { databaseUrl, namePrefix, schema, templateName } from "./TestServer.js"

export { databaseUrl, namePrefix, schema, templateName } from "./TestServer.js"

/** URL of the test server's maintenance database (from `globalSetup`). */
export const serverUrl = (): string => inject("sluiceServerUrl")

/** The current test file's database. */
export class TestDatabase extends Context.Tag("sluice/test/TestDatabase")<TestDatabase, {
  readonly name: string
  /** Plain URL (with password), to hand to child processes. */
  readonly url: string
}>() {}

/** Options for {@link layerWith}. */
export interface Options {
  /** Pool size. Default 10. */
  readonly maxConnections?: number | undefined
}

/** What {@link layer} provides. */
export type Services =
  | TestDatabase
  | PgClient.PgClient
  | SqlClient.SqlClient
  | Database.DatabaseUrl
  | Statements.Pool
  | RuntimeConfig.RuntimeConfig

/** {@link layer} with a different pool size. */
export const layerWith = (options: Options = {}): Layer.Layer<Services, DatabaseUnavailable | InvalidConfig> =>
  Layer.scopedContext(Effect.gen(function*() {
    const server = serverUrl()
    const name = `${namePrefix}${process.pid}_${Math.random().toString(36).slice(2, 8)}`
    const url = databaseUrl(server, name)
    yield* Effect.acquireRelease(
      EmbeddedPostgres.createDatabase(server, name, templateName),
      () => Effect.orDie(EmbeddedPostgres.dropDatabase(server, name))
    )
    const opened = yield* Database.make({
      url,
      maxConnections: options.maxConnections ?? Database.defaults.maxConnections,
      applicationName: `sluice-test-${process.pid}`
    })
    const settings = yield* RuntimeConfig.make({ schema })
    return Database.contextOf(opened).pipe(
      Context.add(TestDatabase, { name, url }),
      Context.add(RuntimeConfig.RuntimeConfig, settings)
    )
  }))

/**
 * The current test file's database: created from the template when the layer builds,
 * dropped (connections closed) when it closes.
 */
export const layer: Layer.Layer<Services, DatabaseUnavailable | InvalidConfig> = layerWith()

/** The runtime's tables, emptied by {@link truncate}. */
export const tables = ["events", "deliveries", "subscriptions", "consumer_groups", "delivery_errors"] as const

/** Empties the runtime's tables (and restarts their identities), for a clean slate between tests. */
export const truncate: Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  yield* sql.unsafe(`TRUNCATE ${tables.map((table) => `${schema}.${table}`).join(", ")} RESTART IDENTITY`)
})
