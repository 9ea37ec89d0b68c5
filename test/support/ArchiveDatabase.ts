/**
 * The runtime and the archive's schema (migrated into `archive`) on the test file's
 * database, and a helper to empty the archive's tables between tests.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ArchiveMigrations from "../../src/archive/ArchiveMigrations.js"
import * as Runtime from "./Runtime.js"
import * as TestDatabase from "./TestDatabase.js"

/** The runtime's services plus the migrated archive schema. */
export const layer = Layer.effectDiscard(ArchiveMigrations.migrate()).pipe(Layer.provideMerge(Runtime.layer))

/** Empties the runtime's and the archive's tables. */
export const truncate = Effect.gen(function*() {
  yield* TestDatabase.truncate
  const sql = yield* SqlClient.SqlClient
  yield* sql`TRUNCATE archive.source_runs, archive.records, archive.depositions,
    archive.keyword_index, archive.vector_index`
})
