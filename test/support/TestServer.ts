/**
 * What `test/globalSetup.ts` and the test files agree on about the shared test server.
 * Imports nothing from vitest at run time: `globalSetup` runs outside the test workers.
 */

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of the test server's `postgres` database, set by `test/globalSetup.ts`. */
    readonly sluiceServerUrl: string
  }
}

/** The migrated database every test database is cloned from. */
export const templateName = "sluice_template"

/** Prefix of per-file database names: `sluice_test_<pid>_<random>`. */
export const namePrefix = "sluice_test_"

/** The runtime schema in test databases. */
export const schema = "sluice"

/** The URL of database `name` on the server at `url` (same credentials, host and port). */
export const databaseUrl = (url: string, name: string): string => {
  const parsed = new URL(url)
  parsed.pathname = `/${encodeURIComponent(name)}`
  return parsed.href
}
