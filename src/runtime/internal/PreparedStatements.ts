/**
 * Named prepared statements for the pool's connections, the way pgx and JDBC drivers cache
 * them: a parameterized statement text gets a name the first time it runs, and every later
 * run on the same connection skips PostgreSQL's parse and plan and only binds and executes.
 * The runtime's statements (claim, acknowledge, emit) are a handful of fixed texts run
 * thousands of times a second, and planning them costs more than running them.
 *
 * Only texts with parameters are named (a text without them may hold several statements,
 * which a prepared statement cannot). The names are bounded: past `limit` distinct texts in
 * a process (say, `IN` lists of every length), new texts run unnamed as before. Poolers in
 * transaction mode that cannot keep prepared statements across transactions need this off
 * (`SLUICE_DB_PREPARE=false`).
 */
import pg from "pg"

/** The statement names of one process: text → name, at most `limit` of them. */
export interface StatementNames {
  readonly nameOf: (text: string) => string | undefined
  readonly size: () => number
}

export const makeNames = (limit: number): StatementNames => {
  const names = new Map<string, string>()
  return {
    nameOf: (text) => {
      const known = names.get(text)
      if (known !== undefined || names.size >= limit) return known
      const name = `sluice_${names.size + 1}`
      names.set(text, name)
      return name
    },
    size: () => names.size
  }
}

/** Shared by every pool of the process, so that one text has one name on every connection. */
export const processNames: StatementNames = makeNames(512)

const unnamedQuery = pg.Client.prototype.query

/**
 * A `pg.Client` that sends parameterized statement texts as named prepared statements.
 * node-postgres parses a name once per connection and remembers it
 * (`connection.parsedStatements`); a failed parse is forgotten and parsed again next time.
 */
export const clientClass = (names: StatementNames): typeof pg.Client => {
  class PreparingClient extends pg.Client {}
  Object.defineProperty(PreparingClient.prototype, "query", {
    value: function(this: pg.Client, config: unknown, values?: unknown, callback?: unknown) {
      if (typeof config === "string" && Array.isArray(values) && values.length > 0) {
        const name = names.nameOf(config)
        if (name !== undefined) {
          return Reflect.apply(unnamedQuery, this, [{ name, text: config, values }, callback])
        }
      }
      return Reflect.apply(unnamedQuery, this, [config, values, callback])
    },
    writable: true,
    configurable: true
  })
  return PreparingClient
}
