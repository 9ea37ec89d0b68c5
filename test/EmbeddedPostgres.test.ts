import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { promises as fsp } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Database from "../src/runtime/Database.js"
import * as EmbeddedPostgres from "../src/runtime/EmbeddedPostgres.js"
import * as Migrations from "../src/runtime/Migrations.js"
import * as RuntimeConfig from "../src/runtime/RuntimeConfig.js"
import * as Child from "./support/Child.js"
import { migrationNames } from "./support/MigrationFiles.js"

/** A fresh folder; on scope close, any server left on it is stopped and the folder removed. */
const tempDataDir = Effect.acquireRelease(
  Effect.promise(() => fsp.mkdtemp(path.join(os.tmpdir(), "sluice-embedded-"))),
  (dir) =>
    EmbeddedPostgres.stop(dir).pipe(
      Effect.orDie,
      Effect.zipRight(Effect.promise(() => fsp.rm(dir, { recursive: true, force: true })))
    )
)

const migrate = (sql: SqlClient.SqlClient) =>
  Migrations.run.pipe(
    Effect.provideService(SqlClient.SqlClient, sql),
    Effect.provide(Layer.merge(RuntimeConfig.layer({ schema: "sluice" }), NodeContext.layer))
  )

const readLog = (dir: string) => Effect.promise(() => fsp.readFile(path.join(dir, "postgres.log"), "utf8"))

interface Owned {
  readonly port: number
  readonly startedHere: boolean
  readonly pid: number
}

const owner = (dir: string) =>
  Effect.gen(function*() {
    const child = yield* Child.spawnScript(Child.fixture("child.ts"), ["own", dir])
    return { child, ready: Effect.map(child.next(), (value) => value as Owned) }
  })

describe("EmbeddedPostgres", () => {
  it.scopedLive("starts on a fresh folder, migrates once, keeps its data, restarts on the same port", () =>
    Effect.gen(function*() {
      const dir = yield* tempDataDir

      const firstPort = yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(Database.layer({ dataDir: dir }))
        const sql = Context.get(context, SqlClient.SqlClient)
        expect(yield* sql<{ readonly one: number }>`SELECT 1 AS one`).toEqual([{ one: 1 }])
        expect(yield* migrate(sql)).toEqual(migrationNames)
        expect(yield* migrate(sql)).toEqual([])
        const server = yield* EmbeddedPostgres.running(dir)
        expect(server).toBeDefined()
        return server!.port
      }))
      // The last one out stops the server, cleanly.
      expect(yield* EmbeddedPostgres.running(dir)).toBeUndefined()
      expect(yield* readLog(dir)).toContain("database system is shut down")

      yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* EmbeddedPostgres.make({ dataDir: dir })
        expect(server).toMatchObject({ startedHere: true, port: firstPort, dataDir: dir })
        expect(yield* readLog(dir)).not.toContain("not properly shut down")
        const context = yield* Layer.build(Database.layer({ url: server.url, maxConnections: 2 }))
        const sql = Context.get(context, SqlClient.SqlClient)
        // The cluster was kept: no initdb, the migrations are there.
        expect(yield* migrate(sql)).toEqual([])

        // Restart mid-run: same port, and the pool reconnects.
        yield* EmbeddedPostgres.stop(dir)
        expect(yield* EmbeddedPostgres.running(dir)).toBeUndefined()
        const again = yield* EmbeddedPostgres.start({ dataDir: dir })
        expect(again).toMatchObject({ startedHere: true, port: firstPort })
        expect(yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM sluice.migrations`).toEqual([{
          n: migrationNames.length
        }])
      }))
      expect(yield* EmbeddedPostgres.running(dir)).toBeUndefined()
    }))

  it.scopedLive("two processes on one folder share one server; the last one out stops it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDataDir
      const a = yield* owner(dir)
      const b = yield* owner(dir)
      const [ownedA, ownedB] = yield* Effect.all([a.ready, b.ready], { concurrency: 2 })
      expect(ownedA.port).toBe(ownedB.port)
      expect([ownedA.startedHere, ownedB.startedHere].sort()).toEqual([false, true])
      const postmaster = yield* EmbeddedPostgres.running(dir)
      expect(postmaster?.port).toBe(ownedA.port)

      // The first to leave keeps the server running for the other.
      yield* a.child.send("exit")
      expect(yield* a.child.exited()).toBe(0)
      expect(yield* EmbeddedPostgres.running(dir)).toEqual(postmaster)

      // The last one out stops it before exiting.
      yield* b.child.send("exit")
      expect(yield* b.child.exited()).toBe(0)
      expect(yield* EmbeddedPostgres.running(dir)).toBeUndefined()
      expect(yield* readLog(dir)).toContain("database system is shut down")

      // The folder is intact: it starts cleanly and holds both processes' rows.
      yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* EmbeddedPostgres.make({ dataDir: dir })
        expect(yield* readLog(dir)).not.toContain("not properly shut down")
        const { client: sql } = yield* Database.make({ url: server.url, maxConnections: 1 })
        for (const pid of [ownedA.pid, ownedB.pid]) {
          expect(yield* sql<{ readonly pid: number }>`SELECT pid FROM ${sql(`owner_${pid}`)}`).toEqual([{ pid }])
        }
      }))
      expect(yield* EmbeddedPostgres.running(dir)).toBeUndefined()
    }))

  it.scopedLive("a SIGKILLed owner leaves the server running; the next owner attaches and stops it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDataDir
      const killed = yield* owner(dir)
      const owned = yield* killed.ready
      expect(owned.startedHere).toBe(true)
      yield* killed.child.kill("SIGKILL")
      expect(yield* killed.child.exited()).toBe("SIGKILL")

      const postmaster = yield* EmbeddedPostgres.running(dir)
      expect(postmaster?.port).toBe(owned.port)
      yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* EmbeddedPostgres.make({ dataDir: dir })
        expect(server).toMatchObject({ startedHere: false, port: owned.port })
        const { client: sql } = yield* Database.make({ url: server.url, maxConnections: 1 })
        expect(yield* sql`SELECT pid FROM ${sql(`owner_${owned.pid}`)}`).toEqual([{ pid: owned.pid }])
      }))
      // The killed owner's connections are gone, so this owner was the last one out.
      expect(yield* EmbeddedPostgres.running(dir)).toBeUndefined()
    }))
})
