/**
 * A claim loop's database session, one batch at a time: a connection reserved only when a
 * statement needs a transaction, and a transaction that begins at that statement. A handler that runs no SQL
 * then costs no reserved connection and no `BEGIN`/`COMMIT` round trips (nor a commit
 * flush): its claim and acknowledgement are autocommit statements on the pool.
 *
 * Statements run through `transactional` reserve the connection and begin the transaction
 * first (once); statements run through `autocommit` run outside it, on the reserved
 * connection if there is one, else on the pool. `sql.withTransaction` inside `transactional`
 * becomes a savepoint of the session's transaction.
 *
 * The loop `release`s the session after each batch: a batch that ran no SQL costs it
 * nothing.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

export interface Session {
  /** Runs `effect` with its statements outside any transaction. */
  readonly autocommit: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Runs `effect` inside the session's transaction, begun by its first statement. */
  readonly transactional: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Whether a transaction is open. */
  readonly inTransaction: Effect.Effect<boolean>
  /** Commits the open transaction, if any. */
  readonly commit: Effect.Effect<void, SqlError>
  /** Rolls the open transaction back, if any. */
  readonly rollback: Effect.Effect<void, SqlError>
  /** Rolls back the open transaction, if any, and gives the reserved connection back to the pool. */
  readonly release: Effect.Effect<void>
}

/** A session on the `SqlClient`; nothing is reserved until a statement needs a transaction. */
export const make: Effect.Effect<Session, never, SqlClient.SqlClient> = Effect.map(SqlClient.SqlClient, (sql) => {
  let scope: Scope.CloseableScope | undefined
  let connection: SqlConnection.Connection | undefined
  let open = false
  const lock = Effect.unsafeMakeSemaphore(1)

  const end = (statement: "COMMIT" | "ROLLBACK") =>
    Effect.suspend(() => {
      if (!open || connection === undefined) return Effect.void
      open = false
      return Effect.asVoid(connection.executeUnprepared(statement, [], undefined))
    })

  /** Reserves the connection and sends `BEGIN`, once, whichever statement comes first. */
  const begin: Effect.Effect<SqlConnection.Connection, SqlError> = Effect.suspend(() =>
    open && connection !== undefined ? Effect.succeed(connection) : lock.withPermits(1)(Effect.suspend(() => {
      if (open && connection !== undefined) return Effect.succeed(connection)
      return Effect.gen(function*() {
        if (connection === undefined) {
          const batch = scope ?? (yield* Scope.make())
          scope = batch
          connection = yield* Scope.extend(sql.reserve, batch)
          // Added after the reservation's release, so it runs before it.
          yield* Scope.addFinalizer(batch, Effect.ignore(end("ROLLBACK")))
        }
        const reserved = connection
        yield* reserved.executeUnprepared("BEGIN", [], undefined)
        open = true
        return reserved
      })
    }))
  )

  const release = Effect.suspend(() => {
    const reserved = scope
    if (reserved === undefined) return Effect.void
    return Scope.close(reserved, Exit.void).pipe(
      Effect.ensuring(Effect.sync(() => {
        scope = undefined
        connection = undefined
        open = false
      }))
    )
  })

  const lazy: SqlConnection.Connection = {
    execute: (statement, params, transformRows) =>
      Effect.flatMap(begin, (c) => c.execute(statement, params, transformRows)),
    executeRaw: (statement, params) => Effect.flatMap(begin, (c) => c.executeRaw(statement, params)),
    executeStream: (statement, params, transformRows) =>
      Stream.unwrap(Effect.map(begin, (c) => c.executeStream(statement, params, transformRows))),
    executeValues: (statement, params) => Effect.flatMap(begin, (c) => c.executeValues(statement, params)),
    executeUnprepared: (statement, params, transformRows) =>
      Effect.flatMap(begin, (c) => c.executeUnprepared(statement, params, transformRows))
  }

  return {
    autocommit: (effect) =>
      Effect.suspend(() =>
        connection === undefined ? effect : Effect.provideService(effect, SqlClient.TransactionConnection, [
          connection,
          0
        ])
      ),
    transactional: (effect) => Effect.provideService(effect, SqlClient.TransactionConnection, [lazy, 0]),
    inTransaction: Effect.sync(() => open),
    commit: end("COMMIT"),
    rollback: end("ROLLBACK"),
    release
  }
})
