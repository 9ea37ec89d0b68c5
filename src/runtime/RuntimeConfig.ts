/**
 * Settings shared by every part of the runtime in one process: which schema holds
 * sluice's tables, and the channel its notifications travel on.
 */
import * as Config from "effect/Config"
import type { ConfigError } from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { InvalidConfig } from "./Errors.js"

/** Options for {@link layer}. */
export interface Options {
  /** The PostgreSQL schema holding sluice's tables. Default `sluice`. */
  readonly schema?: string | undefined
}

/** The resolved runtime settings. */
export interface RuntimeSettings {
  readonly schema: string
  /** The LISTEN/NOTIFY channel: one per schema, the payload is the consumer group. */
  readonly channel: string
}

/** The runtime's resolved settings, as a service. */
export class RuntimeConfig extends Context.Tag("sluice/RuntimeConfig")<RuntimeConfig, RuntimeSettings>() {}

export const defaults = { schema: "sluice" } as const

const schemaName = /^[a-z_][a-z0-9_]{0,47}$/

/** Validates options into settings; a bad schema name fails naming the value and the rule. */
export const make = (options: Options = {}): Effect.Effect<RuntimeSettings, InvalidConfig> => {
  const schema = options.schema ?? defaults.schema
  if (!schemaName.test(schema)) {
    return Effect.fail(
      new InvalidConfig({
        subject: "sluice",
        field: "schema",
        value: JSON.stringify(schema),
        rule: "must match /^[a-z_][a-z0-9_]{0,47}$/ (lower-case letters, digits, underscores)"
      })
    )
  }
  return Effect.succeed({ schema, channel: `sluice_${schema}` })
}

/** A layer from explicit options. */
export const layer = (options: Options = {}): Layer.Layer<RuntimeConfig, InvalidConfig> =>
  Layer.effect(RuntimeConfig, make(options))

/** The same options read from configuration (`SLUICE_SCHEMA`). */
export const config: Config.Config<Options> = Config.all({
  schema: Config.string("SLUICE_SCHEMA").pipe(
    Config.withDefault(defaults.schema),
    Config.withDescription("PostgreSQL schema holding sluice's tables")
  )
})

/** A layer reading its options from configuration. */
export const layerConfig: Layer.Layer<RuntimeConfig, InvalidConfig | ConfigError> = Layer
  .effect(RuntimeConfig, Effect.flatMap(config, make))
