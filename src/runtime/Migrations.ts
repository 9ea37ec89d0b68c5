/**
 * Applies sluice's plain-SQL migrations (the `migrations/` folder of the package) with
 * `@effect/sql`'s Migrator, into the runtime's own schema and migrations table.
 *
 * Safe to run twice and from several processes at once: the whole run holds a
 * transaction-scoped advisory lock, so one process migrates and the others wait,
 * then find nothing left to do.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import { MigrationFailed } from "./Errors.js"
import { RuntimeConfig } from "./RuntimeConfig.js"

const migrationFile = /^(\d{4})_([a-z0-9_]+)\.sql$/

/** The installed `sluice` package's folder, resolved from this code's (a bundle's node_modules included). */
const installedPackage = (path: Path.Path) =>
  Effect.try(() => path.dirname(createRequire(import.meta.url).resolve("sluice/package.json"))).pipe(Effect.option)

/**
 * Locates the `migrations/` folder shipped with the package: beside the package's code
 * (in its folder or up to four above), or else in the installed `sluice` package, which is
 * where a worker bundled into one file finds it.
 */
export const migrationsDirectory: Effect.Effect<string, MigrationFailed, FileSystem.FileSystem | Path.Path> = Effect
  .gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const code = path.dirname(fileURLToPath(import.meta.url))
    const ancestors = [0, 1, 2, 3, 4].map((up) => path.resolve(code, ...Array<string>(up).fill("..")))
    const installed = yield* installedPackage(path)
    const candidates = [...ancestors, ...Option.toArray(installed)].map((dir) => path.join(dir, "migrations"))
    for (const candidate of candidates) {
      if (yield* fs.exists(path.join(candidate, "0001_core.sql")).pipe(Effect.orElseSucceed(() => false))) {
        return candidate
      }
    }
    return yield* new MigrationFailed({
      message: `cannot find sluice's migrations/ folder: looked in ${candidates.join(", ")}` +
        (Option.isNone(installed) ? " (the package \"sluice\" does not resolve from here)" : "")
    })
  })

/** Reads the numbered SQL files of a folder into Migrator's loader shape. */
export const loadSqlFiles = (directory: string): Effect.Effect<
  ReadonlyArray<Migrator.ResolvedMigration>,
  MigrationFailed,
  FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const names = (yield* fs.readDirectory(directory)).filter((name) => migrationFile.test(name)).sort()
    return yield* Effect.forEach(names, (name) =>
      Effect.map(fs.readFileString(path.join(directory, name)), (text): Migrator.ResolvedMigration => {
        const [, id, label] = migrationFile.exec(name)!
        const run = Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql.unsafe(text).raw)
        return [Number(id), label!, Effect.succeed(run)]
      }))
  }).pipe(
    Effect.mapError((cause) =>
      cause instanceof MigrationFailed
        ? cause
        : new MigrationFailed({ message: `cannot read migrations from ${directory}: ${cause.message}`, cause })
    )
  )

/** Where a set of plain-SQL migrations goes. */
export interface Target {
  /** Folder of `NNNN_name.sql` files. */
  readonly directory: string
  /** Schema the files run in (created if missing; first on the search path). */
  readonly schema: string
  /** Migrations table, in that schema. */
  readonly table: string
}

/**
 * Applies a folder of numbered SQL files into a schema, with its own migrations table.
 * The whole run holds a transaction-scoped advisory lock on the schema, so concurrent
 * runs from several processes apply each file once. Returns the migrations it applied.
 */
export const apply = (target: Target): Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  MigrationFailed,
  SqlClient.SqlClient | FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const { directory, schema, table } = target
    const migrations = yield* loadSqlFiles(directory)
    const migrate = Migrator.make({})({ loader: Effect.succeed(migrations), table: `${schema}.${table}` })
    return yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(hashtextextended(${`sluice.migrate:${schema}`}, 0))`
      yield* sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`
      yield* sql`CREATE TABLE IF NOT EXISTS ${sql(schema)}.${sql(table)} (
        migration_id integer PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now(),
        name text NOT NULL
      )`
      yield* sql`SELECT set_config('search_path', ${`${schema}, public`}, true)`
      return yield* migrate
    })).pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.catchAllDefect((defect) =>
        Effect.fail(
          new MigrationFailed({
            message: `migration failed in schema "${schema}": ${describe(defect)}`,
            cause: defect
          })
        )
      ),
      Effect.mapError((error) =>
        error instanceof MigrationFailed ? error : new MigrationFailed({
          message: `migration failed in schema "${schema}": ${describe(error)}`,
          cause: error
        })
      ),
      Effect.withSpan("Migrations.apply", { attributes: { schema } })
    )
  })

/** Brings the runtime's schema up to date. Returns the migrations it applied. */
export const run: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  MigrationFailed,
  SqlClient.SqlClient | RuntimeConfig | FileSystem.FileSystem | Path.Path
> = Effect.gen(function*() {
  const { schema } = yield* RuntimeConfig
  const directory = yield* migrationsDirectory
  return yield* apply({ directory, schema, table: "migrations" })
})

const describe = (error: unknown): string => {
  if (error && typeof error === "object") {
    const message = "message" in error ? String(error.message) : String(error)
    const cause = "cause" in error ? error.cause : undefined
    return cause ? `${message} (${describe(cause)})` : message
  }
  return String(error)
}
