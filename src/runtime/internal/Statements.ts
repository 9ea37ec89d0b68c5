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
 * `pool.query`: a connection for the statement, returned when it completes (or dropped when
 * it broke). An interrupted statement is not cancelled: it completes or fails on its own.
 */
export const fromPool = (pool: pg.Pool): PoolConnection => ({
  execute: (text, params) =>
    Effect.async<ReadonlyArray<unknown>, SqlError>((resume) => {
      pool.query(text, params as Array<unknown>, (cause: Error | undefined, result: pg.QueryResult | undefined) => {
        resume(
          cause !== undefined && cause !== null
            ? Effect.fail(new SqlError({ cause, message: "Failed to execute statement" }))
            : Effect.succeed(result?.rows ?? [])
        )
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
