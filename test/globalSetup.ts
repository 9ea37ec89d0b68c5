/**
 * Once per test run: the PostgreSQL server the test files share, and the migrated
 * template their databases are cloned from (see `test/support/TestDatabase.ts`).
 *
 * - `DATABASE_URL` set: that server is used (its user needs CREATEDB).
 * - Unset: one embedded server on `.sluice-test/pg` (gitignored, kept between runs so
 *   `initdb` runs once), stopped after the run unless someone else still uses it.
 *
 * The template is rebuilt only when the migration files changed (their hash is kept as
 * the template's comment). Databases left by earlier runs whose worker is gone are dropped.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { createHash } from "node:crypto"
import { fileURLToPath } from "node:url"
import type { TestProject } from "vitest/node"
import * as Database from "../src/runtime/Database.js"
import * as EmbeddedPostgres from "../src/runtime/EmbeddedPostgres.js"
import * as Migrations from "../src/runtime/Migrations.js"
import * as RuntimeConfig from "../src/runtime/RuntimeConfig.js"
import * as TestDatabase from "./support/TestServer.js"

const dataDir = fileURLToPath(new URL("../.sluice-test", import.meta.url))

/** Hash of the migration files' names and contents. */
const migrationsHash = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const directory = yield* Migrations.migrationsDirectory
  const hash = createHash("sha256")
  for (const name of (yield* fs.readDirectory(directory)).filter((name) => name.endsWith(".sql")).sort()) {
    hash.update(name).update("\0").update(yield* fs.readFileString(path.join(directory, name))).update("\0")
  }
  return hash.digest("hex").slice(0, 16)
})

/** Runs `use` on the server's maintenance database with a one-connection pool. */
const onServer = <A, E>(url: string, use: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>) =>
  Effect.scoped(Effect.flatMap(Database.make({ url, maxConnections: 1 }), ({ client }) => use(client)))

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code === "EPERM"
  }
}

const dropLeftovers = (url: string) =>
  Effect.gen(function*() {
    const rows = yield* onServer(url, (sql) =>
      sql<
        { readonly datname: string }
      >`SELECT datname FROM pg_database WHERE starts_with(datname, ${TestDatabase.namePrefix})`)
    for (const { datname } of rows) {
      const pid = Number.parseInt(datname.slice(TestDatabase.namePrefix.length), 10)
      if (!isAlive(pid)) {
        yield* EmbeddedPostgres.dropDatabase(url, datname)
      }
    }
  })

const prepareTemplate = (url: string) =>
  Effect.gen(function*() {
    const hash = yield* migrationsHash
    const comment = `sluice migrations ${hash}`
    const current = yield* onServer(url, (sql) =>
      sql<{ readonly comment: string | null }>`SELECT shobj_description(oid, 'pg_database') AS comment
        FROM pg_database WHERE datname = ${TestDatabase.templateName}`)
    if (current[0]?.comment === comment) {
      return
    }
    yield* EmbeddedPostgres.dropDatabase(url, TestDatabase.templateName)
    yield* EmbeddedPostgres.createDatabase(url, TestDatabase.templateName)
    yield* Migrations.run.pipe(
      Effect.provide(Layer.mergeAll(
        Database.layer({ url: TestDatabase.databaseUrl(url, TestDatabase.templateName), maxConnections: 1 }),
        RuntimeConfig.layer({ schema: TestDatabase.schema })
      ))
    )
    yield* onServer(url, (sql) =>
      sql`COMMENT ON DATABASE ${sql(TestDatabase.templateName)} IS ${sql.literal(`'${comment}'`)}`)
  })

const prepare = Effect.gen(function*() {
  const fromEnv = process.env.DATABASE_URL
  if (fromEnv !== undefined && fromEnv !== "") {
    // A server we do not own (maybe shared by several machines): leave others' databases alone.
    yield* prepareTemplate(fromEnv)
    return fromEnv
  }
  // fsync off: a throwaway cluster; a crashed machine may need `rm -rf .sluice-test`.
  const server = yield* EmbeddedPostgres.make({ dataDir, settings: { fsync: "off" } })
  yield* dropLeftovers(server.url)
  yield* prepareTemplate(server.url)
  return server.url
}).pipe(Effect.provide(NodeContext.layer))

export default async function setup(project: TestProject) {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(Scope.extend(prepare, scope))
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    throw new Error(`test database setup failed:\n${Cause.pretty(exit.cause)}`)
  }
  project.provide("sluiceServerUrl", exit.value)
  return async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
