/**
 * Least privilege: the statements that let a runtime role use sluice's tables in a schema
 * that another role (the migration owner) owns, and nothing more.
 *
 * - The owner runs the migrations (`Sluice.migrate`, or `Sluice.layer()` with `migrate`),
 *   owns the schema and its tables, and is the only role that can change them (DDL).
 * - The runtime role (worker pools, emitting applications) gets `USAGE` on the schema,
 *   `SELECT, INSERT, UPDATE, DELETE` on the runtime's tables and `USAGE, SELECT` on their
 *   sequences. It cannot create, alter, drop or truncate anything, nor touch the
 *   migrations table. `LISTEN`/`pg_notify` need no grant. Run the runtime with
 *   `migrate: false`.
 *
 * Run {@link statements} (or {@link apply}) as the owner after every migration that adds
 * a table: they are idempotent. See `docs/security.md` for the whole setup.
 *
 * @example
 * ```ts
 * // as the owner, after migrating:
 * yield* Grants.apply({ schema: "sluice", runtimeRole: "sluice_runtime" })
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { InvalidConfig } from "./Errors.js"
import * as RuntimeConfig from "./RuntimeConfig.js"

/** The tables the runtime reads and writes (everything of its schema but the migrations table). */
export const runtimeTables = ["events", "deliveries", "subscriptions", "consumer_groups"] as const

/** Options of {@link statements}. */
export interface Options {
  /** The runtime's schema (validated like `RuntimeConfig.schema`). Default `sluice`. */
  readonly schema?: string | undefined
  /** The role the runtime connects as. */
  readonly runtimeRole: string
}

/** A role name as PostgreSQL stores it: at most 63 bytes, no NUL. */
const roleName = (role: string) =>
  typeof role === "string" && role.length > 0 && !role.includes("\0") && Buffer.byteLength(role) <= 63

/** Quotes an identifier the way PostgreSQL's `quote_ident` does, always. */
export const quoteIdentifier = (name: string): string => `"${name.replace(/"/g, "\"\"")}"`

/**
 * The `GRANT`/`REVOKE` statements for a runtime role, one per array element, for the
 * owner to run. The schema name is checked by the runtime's own rule and the role name is
 * quoted, so neither can change the statements' meaning.
 */
export const statements = (options: Options): Effect.Effect<ReadonlyArray<string>, InvalidConfig> =>
  Effect.gen(function*() {
    const { schema } = yield* RuntimeConfig.make({ schema: options.schema })
    if (!roleName(options.runtimeRole)) {
      return yield* new InvalidConfig({
        subject: "sluice grants",
        field: "runtimeRole",
        value: JSON.stringify(options.runtimeRole),
        rule: "must be a role name of 1 to 63 bytes without NUL"
      })
    }
    const s = quoteIdentifier(schema)
    const role = quoteIdentifier(options.runtimeRole)
    const tables = runtimeTables.map((table) => `${s}.${quoteIdentifier(table)}`).join(", ")
    return [
      `REVOKE ALL ON SCHEMA ${s} FROM PUBLIC`,
      `GRANT USAGE ON SCHEMA ${s} TO ${role}`,
      `GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE ${tables} TO ${role}`,
      `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${s} TO ${role}`,
      `REVOKE ALL ON TABLE ${s}.${quoteIdentifier("migrations")} FROM ${role}`
    ]
  })

/** Runs {@link statements} in one transaction on the current connection (which must be the owner's). */
export const apply = (options: Options): Effect.Effect<void, InvalidConfig | SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const list = yield* statements(options)
    yield* sql.withTransaction(Effect.forEach(list, (statement) => sql.unsafe(statement), { discard: true }))
  }).pipe(Effect.withSpan("Grants.apply"))
