/**
 * raw's profile `effect`: the floor of an Effect program doing raw's work. raw's claim (the
 * batch returned as one JSON value, as sluice's is) and its deleting acknowledgement (the
 * `tuned` one), run the way an Effect program would run them: through sluice's connection
 * layer (`@effect/sql-pg`, named prepared statements), one fiber per claim loop, each payload
 * decoded with Schema into a class instance before the handler sees the batch. No sessions,
 * leases, heartbeats, metrics, retries, outcomes or NOTIFY: only the "payload
 * decoding and handler dispatch".
 *
 * What this process costs in rate and memory is what the stack the runtime must use
 * (effect, Schema, @effect/sql-pg) costs before sluice adds any bookkeeping.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import * as Database from "../src/runtime/Database.js"
import type { Consumer, ConsumerOptions } from "./contender.js"
import { ackDeleteSql, claimBatchSql, pollMs } from "./raw-sql.js"

class Tick extends Schema.Class<Tick>("bench.Tick")({ n: Schema.Number, at: Schema.Number }) {}

const decode = Schema.decodeUnknownSync(Tick)

export const consumer = async (url: string, options: ConsumerOptions): Promise<Consumer> => {
  const { batch, concurrency, groups, onHandle } = options
  const loops = groups.flatMap((group) => Array.from({ length: concurrency }, () => group))
  const runtime = ManagedRuntime.make(Database.layer({ url, maxConnections: loops.length }))
  await runtime.runtime()
  let stopping = false

  const loop = (group: string) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      while (!stopping) {
        const token = randomUUID()
        const [claimed] = yield* sql.unsafe<{ batch: ReadonlyArray<readonly [string, unknown]> | null }>(
          claimBatchSql.text,
          [group, new Date(), batch, token]
        )
        const rows = claimed?.batch ?? []
        if (rows.length === 0) {
          yield* Effect.sleep(pollMs)
          continue
        }
        onHandle(rows.map(([, payload]) => decode(payload)))
        yield* sql.unsafe(ackDeleteSql.text, [group, token, rows.map(([id]) => id)])
      }
    })

  let running: Fiber.RuntimeFiber<unknown, unknown> | undefined
  return {
    start: async () => {
      running = runtime.runFork(Effect.all(loops.map(loop), { concurrency: "unbounded", discard: true }))
    },
    stop: async () => {
      stopping = true
      if (running !== undefined) await runtime.runPromise(Fiber.interrupt(running))
      await runtime.dispose()
    }
  }
}
