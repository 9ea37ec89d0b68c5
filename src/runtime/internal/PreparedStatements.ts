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
  // By length, then by comparison: the driver gets a freshly compiled string on every run, and
  // comparing it with the few known texts of its length costs a quarter of hashing it for a
  // Map key (2 against 8 µs for a 4 KB statement).
  const byLength = new Map<number, Array<readonly [text: string, name: string]>>()
  let size = 0
  return {
    nameOf: (text) => {
      const sameLength = byLength.get(text.length)
      if (sameLength !== undefined) {
        for (const [known, name] of sameLength) if (known === text) return name
      }
      if (size >= limit) return undefined
      size++
      const name = `sluice_${size}`
      if (sameLength === undefined) byLength.set(text.length, [[text, name]])
      else sameLength.push([text, name])
      return name
    },
    size: () => size
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
