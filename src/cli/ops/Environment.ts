/**
 * What the `sluice` tool's commands run on: the database from configuration
 * (`DATABASE_URL`, else the embedded server in `SLUICE_DATA_DIR`, as `npm start` uses),
 * the runtime's schema (`SLUICE_SCHEMA`) and the operations service. Built when a
 * command runs, never for `--help` or a usage error.
 */
import * as Layer from "effect/Layer"
import * as Operations from "../../ops/Operations.js"
import { Database, RuntimeConfig, Sluice, Store } from "../../runtime/index.js"

/** The database and the runtime's settings (no migrations are applied). */
export const database = RuntimeConfig.layerConfig.pipe(Layer.provideMerge(Database.layerConfig))

/** The operations service over {@link database}. */
export const operations = Operations.layer.pipe(
  Layer.provideMerge(Store.layer),
  Layer.provideMerge(database)
)

/** Applies the runtime's pending migrations; returns what it applied. */
export const migrate = Sluice.migrate
