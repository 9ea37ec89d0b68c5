import * as NodeContext from "@effect/platform-node/NodeContext"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as TestServices from "effect/TestServices"
import { promises as fsp } from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Database from "../src/runtime/Database.js"
import { DatabaseUnavailable, InvalidConfig } from "../src/runtime/Errors.js"
import * as PreparedStatements from "../src/runtime/internal/PreparedStatements.js"
import * as Migrations from "../src/runtime/Migrations.js"
import * as RuntimeConfig from "../src/runtime/RuntimeConfig.js"
import { describeSqlError } from "../src/runtime/Store.js"
import * as Child from "./support/Child.js"
import { migrationCount, migrationNames } from "./support/MigrationFiles.js"
import * as TestDatabase from "./support/TestDatabase.js"

const secret = "hunter2-secret"

/** Builds `Database.layerConfig` with exactly these environment variables. */
const buildFromEnv = (env: Record<string, string>) =>
  Layer.build(Database.layerConfig).pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
  )

/** A client built from configuration on this file's database, with `env` besides its URL. */
const testClientFromEnv = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const database = yield* TestDatabase.TestDatabase
    const context = yield* buildFromEnv({ DATABASE_URL: database.url, ...env })
    return Context.get(context, SqlClient.SqlClient)
  })

/** A TCP server on 127.0.0.1 that accepts connections and never answers. */
const silentServer = Effect.acquireRelease(
  Effect.async<{ readonly server: net.Server; readonly sockets: Set<net.Socket> }>((resume) => {
    const sockets = new Set<net.Socket>()
    const server = net.createServer((socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sockets })))
  }),
  ({ server, sockets }) =>
    Effect.async<void>((resume) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map(({ server }) => (server.address() as net.AddressInfo).port))

/** A port nothing listens on (any more). */
const closedPort = Effect.scoped(silentServer)

/** Tests inside `it.layer` run on the TestClock; these wait on real sockets and processes. */
const live = TestServices.provideLive

// Plain tests first: in @effect/vitest 0.30, plain tests declared after an `it.layer`
// block would run inside that block's layer.
describe("Database configuration", () => {
  it.scopedLive("rejects a DATABASE_URL that is not a postgres URL, naming the field and hiding the password", () =>
    Effect.gen(function*() {
      for (const url of [`mysql://app:${secret}@db.example:3306/app`, "not a url", `postgres://app:${secret}@/app`]) {
        const error = yield* Effect.flip(buildFromEnv({ DATABASE_URL: url }))
        expect(error).toBeInstanceOf(InvalidConfig)
        const invalid = error as InvalidConfig
        expect(invalid.field).toBe("DATABASE_URL")
        expect(invalid.rule).toMatch(/postgres/)
        expect(invalid.message).toContain("DATABASE_URL")
        expect(invalid.message).not.toContain(secret)
        expect(JSON.stringify(invalid)).not.toContain(secret)
      }
    }))

  it.scopedLive("fails with DatabaseUnavailable naming host and port when nothing listens", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const error = yield* Effect.flip(buildFromEnv({ DATABASE_URL: `postgres://app:${secret}@127.0.0.1:${port}/app` }))
      expect(error).toBeInstanceOf(DatabaseUnavailable)
      expect(error.message).toContain(`127.0.0.1:${port}`)
      expect(error.message).not.toContain(secret)
    }))

  it.scopedLive("gives up after the connect timeout when the server never answers", () =>
    Effect.gen(function*() {
      const port = yield* silentServer
      const started = Date.now()
      const error = yield* Effect.flip(buildFromEnv({
        DATABASE_URL: `postgresql://app:${secret}@127.0.0.1:${port}/app`,
        SLUICE_DB_CONNECT_TIMEOUT: "300 millis"
      }))
      expect(error).toBeInstanceOf(DatabaseUnavailable)
      expect(error.message).toContain(`127.0.0.1:${port}`)
      expect(error.message).not.toContain(secret)
      expect(Date.now() - started).toBeLessThan(5_000)
    }))

  it.effect("SLUICE_DB_PREPARE takes only a boolean, naming the variable and the value", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(
        buildFromEnv({ DATABASE_URL: "postgres://localhost/x", SLUICE_DB_PREPARE: "sometimes" })
      ))
      expect(String(error)).toContain(`SLUICE_DB_PREPARE="sometimes": must be true or false`)
    }))

  it("statement names are bounded: past the limit, new texts run unnamed", () => {
    const names = PreparedStatements.makeNames(3)
    expect(names.nameOf("SELECT $1")).toBe("sluice_1")
    expect(names.nameOf("SELECT $1, $2")).toBe("sluice_2")
    expect(names.nameOf("SELECT $2")).toBe("sluice_3")
    expect(names.nameOf("SELECT $1, $2, $3")).toBeUndefined()
    // The same text built afresh, as the driver gets it, and another of the same length
    expect(names.nameOf(["SELECT", "$1"].join(" "))).toBe("sluice_1")
    expect(names.nameOf("SELECT $2")).toBe("sluice_3")
    expect(names.size()).toBe(3)
  })

  it.effect("rejects a pool size that is not a positive integer", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(Database.make({ url: "postgres://localhost/x", maxConnections: 0 }))
      )
      expect(error).toMatchObject({ _tag: "InvalidConfig", field: "maxConnections" })
    }))
})

it.layer(Layer.merge(TestDatabase.layer, NodeContext.layer))("Database", (it) => {
  it.scoped("uses DATABASE_URL when set, without starting an embedded server", () =>
    Effect.gen(function*() {
      const database = yield* TestDatabase.TestDatabase
      const dataDir = yield* Effect.acquireRelease(
        Effect.promise(() => fsp.mkdtemp(path.join(os.tmpdir(), "sluice-unused-"))),
        (dir) => Effect.promise(() => fsp.rm(dir, { recursive: true, force: true }))
      )
      const context = yield* buildFromEnv({ DATABASE_URL: database.url, SLUICE_DATA_DIR: dataDir })
      const sql = Context.get(context, SqlClient.SqlClient)
      expect(yield* sql<{ readonly name: string }>`SELECT current_database() AS name`).toEqual([{
        name: database.name
      }])
      expect(Context.get(context, PgClient.PgClient)).toBe(sql)
      expect(Redacted.value(Context.get(context, Database.DatabaseUrl))).toBe(database.url)
      expect(yield* Effect.promise(() => fsp.readdir(dataDir))).toEqual([])
    }).pipe(live))

  it.scoped("the test database is cloned from the migrated template", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* TestDatabase.truncate
      expect(yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM sluice.events`).toEqual([{ n: 0 }])
      expect(yield* Migrations.run).toEqual([])
    }).pipe(live))

  it.scoped("Migrations.run from 3 fibers on separate connections applies each migration once", () =>
    Effect.gen(function*() {
      const database = yield* TestDatabase.TestDatabase
      const schema = "race_fibers"
      const settings = yield* RuntimeConfig.make({ schema })
      const clients = yield* Effect.all(
        Array.from({ length: 3 }, () => Database.make({ url: database.url, maxConnections: 1 })),
        { concurrency: 3 }
      )
      const results = yield* Effect.all(
        clients.map(({ client }) =>
          Migrations.run.pipe(
            Effect.provideService(SqlClient.SqlClient, client),
            Effect.provideService(RuntimeConfig.RuntimeConfig, settings)
          )
        ),
        { concurrency: "unbounded" }
      )
      expect(results.map((applied) => applied.length).sort()).toEqual([0, 0, migrationCount])
      const sql = yield* SqlClient.SqlClient
      expect(yield* sql`SELECT migration_id FROM race_fibers.migrations ORDER BY 1`).toEqual(
        migrationNames.map(([id]) => ({ migration_id: id }))
      )
      expect(yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM race_fibers.events`).toEqual([{ n: 0 }])
    }).pipe(live))

  it.scoped("Migrations.run from 2 processes at once applies each migration once", () =>
    Effect.gen(function*() {
      const database = yield* TestDatabase.TestDatabase
      const schema = "race_processes"
      const children = yield* Effect.all(
        [1, 2].map(() => Child.spawnScript(Child.fixture("child.ts"), ["migrate", database.url, schema]))
      )
      const outputs = yield* Effect.all(children.map((child) => child.next()), { concurrency: 2 })
      for (const child of children) expect(yield* child.exited()).toBe(0)
      const applied = outputs.map((output) => (output as { readonly applied: ReadonlyArray<unknown> }).applied)
      expect(applied.map((list) => list.length).sort()).toEqual([0, migrationCount])
      const sql = yield* SqlClient.SqlClient
      expect(yield* sql`SELECT migration_id FROM race_processes.migrations ORDER BY 1`).toEqual(
        migrationNames.map(([id]) => ({ migration_id: id }))
      )
    }).pipe(live))

  /** The prepared statements of the current connection whose text contains `marker`. */
  const preparedWith = (sql: SqlClient.SqlClient, marker: string) =>
    sql.unsafe<{ readonly name: string }>(
      `SELECT name FROM pg_prepared_statements WHERE statement LIKE '%${marker}%' AND name <> ''`
    )

  it.scoped("parameterized statements run as named prepared statements, parsed once per connection", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql.withTransaction(Effect.gen(function*() {
        for (const n of [1, 2, 3]) {
          expect(yield* sql<{ readonly n: number }>`SELECT ${n}::int + 1 AS n /* prepared-marker */`).toEqual([{
            n: n + 1
          }])
        }
        return yield* preparedWith(sql, "prepared-marker")
      }))
      expect(rows).toHaveLength(1)
      expect(rows[0]!.name).toMatch(/^sluice_\d+$/)
    }).pipe(live))

  it.scoped("SLUICE_DB_PREPARE=false runs every statement unnamed", () =>
    Effect.gen(function*() {
      const sql = yield* testClientFromEnv({ SLUICE_DB_PREPARE: "false" })
      const rows = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT ${1}::int AS n /* unprepared-marker */`
        yield* sql`SELECT ${2}::int AS n /* unprepared-marker */`
        return yield* preparedWith(sql, "unprepared-marker")
      }))
      expect(rows).toEqual([])
    }).pipe(live))

  it.scoped("a statement that fails to parse fails the same way every time, and the connection stays usable", () =>
    Effect.gen(function*() {
      const sql = yield* testClientFromEnv({ SLUICE_DB_MAX_CONNECTIONS: "1" })
      for (const n of [1, 2]) {
        const error = yield* Effect.flip(sql`SELECT ${n}::int FROM no_such_table_marker`)
        expect(describeSqlError(error)).toContain(`relation "no_such_table_marker" does not exist`)
      }
      for (const n of [1, 2]) {
        expect(yield* sql<{ readonly n: number }>`SELECT ${n}::int + 1 AS n`).toEqual([{ n: n + 1 }])
      }
    }).pipe(live))
})
