/**
 * How the store runs its statements. `@effect/sql` runs each statement in a span and a scope
 * of its own; for the runtime's statements, each a few hundred microseconds of database
 * work run thousands of times a second, that costs a third of their client CPU (an emit of
 * one event: ~200 µs of CPU through the statement layer, ~80 µs with `pg` alone). So the
 * store compiles each statement with `@effect/sql` and executes it on the connection the
 * statement layer would pick (the caller's transaction's, else the pool's) directly.
 *
 * Statements go through the statement layer as before, spans and all, when a tracer exports
 * spans, when a statement transformer is installed, and when the `SqlClient` is not one that
 * {@link Database} opened (there is no pool to run on then).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type pg from "pg"
import * as Tracing from "./tracing.js"

/** Runs one statement on a connection of the pool, outside any transaction. */
export interface PoolConnection {
  readonly execute: (text: string, params: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<unknown>, SqlError>
}

/** The pool of the database the runtime opened, for statements outside a transaction. */
export class Pool extends Context.Tag("sluice/Pool")<Pool, PoolConnection>() {}

/**
 * A connection of the pool for the statement, given back when it completes, dropped when it
 * broke. An interrupted statement is cancelled (`pg_cancel_backend`, on another of the pool's
 * connections, without waiting for it), as `@effect/sql-pg` cancels its own.
 */
export const fromPool = (pool: pg.Pool): PoolConnection => ({
  execute: (text, params) =>
    Effect.async<ReadonlyArray<unknown>, SqlError>((resume) => {
      let running: pg.PoolClient | undefined
      let interrupted = false
      pool.connect((cause: Error | undefined, client: pg.PoolClient | undefined, release) => {
        if (cause || client === undefined) {
          return resume(Effect.fail(new SqlError({ cause, message: "Failed to acquire connection" })))
        }
        if (interrupted) return release()
        let settled = false
        const settle = (broken?: Error) => {
          if (settled) return false
          settled = true
          running = undefined
          client.removeListener("error", onError)
          release(broken)
          return true
        }
        const onError = (broken: Error) => {
          if (settle(broken)) resume(Effect.fail(new SqlError({ cause: broken, message: "Connection error" })))
        }
        client.once("error", onError)
        running = client
        client.query(text, params as Array<unknown>, (error: Error | undefined, result: pg.QueryResult) => {
          if (!settle()) return
          resume(
            error
              ? Effect.fail(new SqlError({ cause: error, message: "Failed to execute statement" }))
              : Effect.succeed(result.rows)
          )
        })
      })
      return Effect.sync(() => {
        interrupted = true
        const processId = (running as { readonly processID?: unknown } | undefined)?.processID
        if (typeof processId === "number" && !pool.ending) {
          pool.query("SELECT pg_cancel_backend($1)", [processId], () => {})
        }
      })
    })
})

/** Runs statements on `pool` when there is one, through the statement layer otherwise. */
export const runner =
  (pool: Option.Option<PoolConnection>) =>
  <A extends object>(statement: Statement.Statement<A>): Effect.Effect<ReadonlyArray<A>, SqlError> => {
    if (Option.isNone(pool)) return statement
    const direct = pool.value
    return Effect.withFiberRuntime((fiber) => {
      if (Tracing.exportsSpans(fiber) || Option.isSome(fiber.getFiberRef(Statement.currentTransformer))) {
        return statement
      }
      const [text, params] = statement.compile()
      const transaction = Context.getOption(fiber.currentContext, SqlClient.TransactionConnection)
      return (Option.isSome(transaction)
        ? transaction.value[0].execute(text, params, undefined)
        : direct.execute(text, params)) as Effect.Effect<ReadonlyArray<A>, SqlError>
    })
  }
