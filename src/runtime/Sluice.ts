/**
 * The runtime's services in one layer: settings, the store (all SQL), the outbox, and
 * the schema brought up to date by the migrations at start.
 *
 * @example
 * ```ts
 * const Runtime = Sluice.layer({ schema: "sluice" }).pipe(Layer.provide(Database.layer()))
 * ```
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { ConfigError } from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { InvalidConfig, MigrationFailed } from "./Errors.js"
import * as Migrations from "./Migrations.js"
import * as Outbox from "./Outbox.js"
import * as RuntimeConfig from "./RuntimeConfig.js"
import * as Store from "./Store.js"

/** Options of {@link layer}. */
export interface Options extends RuntimeConfig.Options {
  /** Apply pending migrations at start. Default true. */
  readonly migrate?: boolean | undefined
}

/** The services the runtime layer provides. */
export type Services = RuntimeConfig.RuntimeConfig | Store.Store | Outbox.Outbox

const fromConfig = <E>(
  settings: Layer.Layer<RuntimeConfig.RuntimeConfig, E>,
  migrate: boolean
): Layer.Layer<Services, E | MigrationFailed, SqlClient.SqlClient> => {
  const migrations = migrate
    ? Layer.effectDiscard(Migrations.run).pipe(Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)))
    : Layer.empty
  const store = Store.layer
  return Layer.mergeAll(Layer.provideMerge(Outbox.layer, store), migrations).pipe(
    Layer.provideMerge(settings)
  )
}

/** The runtime from explicit options. */
export const layer = (
  options: Options = {}
): Layer.Layer<Services, InvalidConfig | MigrationFailed, SqlClient.SqlClient> =>
  fromConfig(RuntimeConfig.layer(options), options.migrate ?? true)

/** The runtime with its options read from configuration (`SLUICE_SCHEMA`). */
export const layerConfig: Layer.Layer<
  Services,
  InvalidConfig | MigrationFailed | ConfigError,
  SqlClient.SqlClient
> = fromConfig(RuntimeConfig.layerConfig, true)

/** Runs the migrations alone (for a `migrate` command). */
export const migrate = Migrations.run.pipe(
  Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
)
