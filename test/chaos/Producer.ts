/**
 * The chaos run's producer: emits `Tick` 1..events at a steady rate, as single emits and
 * `emitAll` batches (a seeded mix), each in its own transaction. It survives database
 * restarts and killed connections: a failed emit is retried, and before a retry the
 * deduplication keys tell whether the failed attempt had committed after all (its
 * outcome was unknown), so every event is counted as emitted exactly once.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as Faults from "./Faults.js"
import { Tick } from "./Scenario.js"

/** What the producer did, as the report shows it. */
export interface Stats {
  /** The highest n confirmed committed; all of 1..emitted are. */
  emitted: number
  singles: number
  batches: number
  batched: number
  /** Emit attempts that failed. */
  failedAttempts: number
  /** Failed attempts found committed after all (resolved by the dedup keys). */
  committedAnyway: number
  /** Failed attempts found not committed, then emitted again. */
  notCommitted: number
}

export const makeStats = (): Stats => ({
  emitted: 0,
  singles: 0,
  batches: 0,
  batched: 0,
  failedAttempts: 0,
  committedAnyway: 0,
  notCommitted: 0
})

/** The producer is inconsistent with the database: a batch half committed. */
export class PartialCommit extends Error {}

const retryForever = Schedule.spaced("200 millis")

/** Emits events 1..`events` at `rate` per second from `startedAt`, updating `stats`. */
export const run = (options: {
  readonly events: number
  readonly rate: number
  readonly seed: number
  readonly startedAt: number
  readonly stats: Stats
}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { stats } = options
    const next = Faults.random(options.seed ^ 0x9e3779b9)

    const present = (ns: ReadonlyArray<number>) =>
      sql<{ readonly n: number }>`
        SELECT count(*)::int AS n FROM ${sql("sluice.events")}
        WHERE type = ${Tick._tag} AND dedup_key IN ${sql.in(ns.map(String))}`.pipe(
        Effect.map((rows) => rows[0]?.n ?? 0),
        Effect.timeout("10 seconds"),
        Effect.retry(retryForever),
        Effect.orDie
      )

    const emitOnce = (ns: ReadonlyArray<number>) =>
      sql.withTransaction(
        ns.length === 1
          ? Outbox.emit(new Tick({ n: ns[0]! }), { dedupKey: String(ns[0]) })
          : Outbox.emitAll(ns.map((n) => ({ event: new Tick({ n }), options: { dedupKey: String(n) } })))
      ).pipe(
        Effect.timeout("10 seconds"),
        // A failed COMMIT surfaces as a defect: its outcome is unknown, like any other failure here.
        Effect.catchAllDefect((defect) => Effect.fail(defect))
      )

    const emitChunk = (ns: ReadonlyArray<number>) =>
      Effect.gen(function*() {
        let failedBefore = false
        while (true) {
          if (failedBefore) {
            const found = yield* present(ns)
            if (found === ns.length) {
              stats.committedAnyway++
              return
            }
            if (found !== 0) {
              return yield* Effect.die(
                new PartialCommit(`events ${ns[0]}..${ns.at(-1)}: ${found} of ${ns.length} committed`)
              )
            }
            stats.notCommitted++
          }
          const exit = yield* Effect.exit(emitOnce(ns))
          if (exit._tag === "Success") return
          failedBefore = true
          stats.failedAttempts++
          yield* Effect.sleep("200 millis")
        }
      })

    let n = 1
    while (n <= options.events) {
      const target = Math.min(options.events, Math.floor(options.rate * (Date.now() - options.startedAt) / 1_000))
      const due = target - n + 1
      if (due <= 0) {
        yield* Effect.sleep("20 millis")
        continue
      }
      const size = next() < 0.5 ? 1 : Math.min(due, 2 + Math.floor(next() * 24))
      const ns = Array.from({ length: size }, (_, i) => n + i)
      yield* emitChunk(ns)
      if (size === 1) stats.singles++
      else {
        stats.batches++
        stats.batched += size
      }
      n += size
      stats.emitted = n - 1
    }
  })
