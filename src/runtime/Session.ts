/**
 * One reserved connection for one batch, with a transaction that begins only when a
 * statement needs it. A handler that runs no SQL then costs no `BEGIN`/`COMMIT` round
 * trips (nor a commit flush): its acknowledgement is a single autocommit statement.
 *
 * Statements run through `transactional` begin the transaction first (once); statements
 * run through `autocommit` run on the same connection outside it. `sql.withTransaction`
 * inside `transactional` becomes a savepoint of the session's transaction.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

export interface Session {
  /** Runs `effect` with its statements on this connection, outside any transaction. */
  readonly autocommit: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Runs `effect` inside the session's transaction, begun by its first statement. */
  readonly transactional: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Whether a transaction is open. */
  readonly inTransaction: Effect.Effect<boolean>
  /** Commits the open transaction, if any. */
  readonly commit: Effect.Effect<void, SqlError>
  /** Rolls the open transaction back, if any. */
  readonly rollback: Effect.Effect<void, SqlError>
}

/** Reserves a connection for the scope; an open transaction is rolled back when the scope closes. */
export const make: Effect.Effect<Session, SqlError, SqlClient.SqlClient | Scope.Scope> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const connection = yield* sql.reserve
  let open = false
  const lock = yield* Effect.makeSemaphore(1)

  const end = (statement: "COMMIT" | "ROLLBACK") =>
    Effect.suspend(() => {
      if (!open) return Effect.void
      open = false
      return Effect.asVoid(connection.executeUnprepared(statement, [], undefined))
    })

  const begin = Effect.suspend(() =>
    open ?
      Effect.void :
      lock.withPermits(1)(Effect.suspend(() =>
        open ? Effect.void : Effect.map(connection.executeUnprepared("BEGIN", [], undefined), () => {
          open = true
        })
      ))
  )

  const lazy: SqlConnection.Connection = {
    execute: (statement, params, transformRows) =>
      Effect.zipRight(begin, connection.execute(statement, params, transformRows)),
    executeRaw: (statement, params) => Effect.zipRight(begin, connection.executeRaw(statement, params)),
    executeStream: (statement, params, transformRows) =>
      Stream.unwrap(Effect.as(begin, connection.executeStream(statement, params, transformRows))),
    executeValues: (statement, params) => Effect.zipRight(begin, connection.executeValues(statement, params)),
    executeUnprepared: (statement, params, transformRows) =>
      Effect.zipRight(begin, connection.executeUnprepared(statement, params, transformRows))
  }

  yield* Effect.addFinalizer(() => Effect.ignore(end("ROLLBACK")))

  return {
    autocommit: (effect) => Effect.provideService(effect, SqlClient.TransactionConnection, [connection, 0]),
    transactional: (effect) => Effect.provideService(effect, SqlClient.TransactionConnection, [lazy, 0]),
    inTransaction: Effect.sync(() => open),
    commit: end("COMMIT"),
    rollback: end("ROLLBACK")
  }
})
