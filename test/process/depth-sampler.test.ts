/**
 * The depth sampler's leader election across processes: of two processes running it,
 * exactly one holds the advisory lock; SIGKILL the leader and the other takes over.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as DepthSampler from "../../src/runtime/DepthSampler.js"
import * as Sluice from "../../src/runtime/Sluice.js"
import * as Child from "../support/Child.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

const TestLayer = Sluice.layer({ migrate: false }).pipe(Layer.provideMerge(TestDatabase.layer))

/** Application names of the sessions holding the sampler's lock in this database. */
const holders = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ application_name: string }>`
    SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext(${`sluice:${TestDatabase.schema}:${DepthSampler.role}`})::bigint`
  return rows.map((row) => row.application_name).sort()
})

layer(TestLayer, { excludeTestServices: true })("depth sampler across processes", (it) => {
  it.scoped("one of two processes leads; when it is killed, the other takes over", () =>
    Effect.gen(function*() {
      yield* TestDatabase.truncate
      const { url } = yield* TestDatabase.TestDatabase
      const script = Child.fixture("depth-sampler.ts")
      const a = yield* Child.spawnScript(script, [url, "sampler-a"])
      const b = yield* Child.spawnScript(script, [url, "sampler-b"])
      yield* a.next("60 seconds")
      yield* b.next("60 seconds")
      const [leader] = yield* Runtime.waitUntil("a leader", holders, (names) => names.length === 1)
      // Both keep contending every 100 ms; the lock stays with one.
      for (let check = 0; check < 5; check++) {
        expect(yield* holders).toEqual([leader])
        yield* Runtime.liveSleep("100 millis")
      }
      const [dead, survivor] = leader === "sampler-a" ? [a, "sampler-b"] : [b, "sampler-a"]
      yield* dead.kill("SIGKILL")
      yield* dead.exited()
      yield* Runtime.waitUntil("the other process to lead", holders, (names) => names.join() === survivor)
    }), 90_000)
})
