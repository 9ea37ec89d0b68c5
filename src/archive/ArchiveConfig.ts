/**
 * The archive's configuration, read through Effect `Config` (environment variables by
 * default). Every field has a default, so `npm start` needs none of them.
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"

/** An index backend: its name (the routing key of its `IndexRecord` events) and kind. */
export interface IndexBackend {
  readonly name: string
  readonly kind: "keyword" | "vector"
}

/** A source run started automatically on the first start. */
export interface InitialRun {
  readonly source: string
  readonly since: string
  readonly limit: number
  readonly chunkSize: number
}

export interface Settings {
  /** The DNS name in SRNs: `urn:osa:{domain}:…`. */
  readonly domain: string
  /** PostgreSQL schema of the archive's tables. */
  readonly schema: string
  readonly indexes: ReadonlyArray<IndexBackend>
  readonly initialRuns: ReadonlyArray<InitialRun>
  /** `auto` approves every deposition that passed validation; `manual` waits for a curator. */
  readonly curation: "auto" | "manual"
}

export class ArchiveConfig extends Context.Tag("archive/ArchiveConfig")<ArchiveConfig, Settings>() {}

const nameRule = /^[a-z0-9][a-z0-9_-]{0,62}$/

const parseIndexes = (text: string): Either.Either<ReadonlyArray<IndexBackend>, string> => {
  const entries = text.split(",").map((entry) => entry.trim()).filter((entry) => entry.length > 0)
  if (entries.length === 0) return Either.left("needs at least one backend, e.g. vector=vector,keyword=keyword")
  const backends: Array<IndexBackend> = []
  for (const entry of entries) {
    const [name, kind] = entry.split("=").map((part) => part.trim())
    if (name === undefined || !nameRule.test(name)) {
      return Either.left(`backend name ${JSON.stringify(name ?? "")} must match ${nameRule}`)
    }
    if (kind !== "keyword" && kind !== "vector") {
      return Either.left(
        `backend ${JSON.stringify(name)} has kind ${JSON.stringify(kind ?? "")}: use keyword or vector`
      )
    }
    if (backends.some((backend) => backend.name === name)) return Either.left(`backend ${JSON.stringify(name)} twice`)
    backends.push({ name, kind })
  }
  return Either.right(backends)
}

const validated = <A>(name: string, config: Config.Config<string>, parse: (text: string) => Either.Either<A, string>) =>
  Config.mapOrFail(
    config,
    (text) =>
      Either.mapLeft(parse(text), (rule) => ConfigError.InvalidData([name], `${name}=${JSON.stringify(text)}: ${rule}`))
  )

const day = /^\d{4}-\d{2}-\d{2}$/

const integerFrom = (min: number, max: number) => (text: string): Either.Either<number, string> => {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN
  return Number.isSafeInteger(n) && n >= min && n <= max
    ? Either.right(n)
    : Either.left(
      max === Number.MAX_SAFE_INTEGER ? `must be an integer ≥ ${min}` : `must be an integer from ${min} to ${max}`
    )
}

/** The configuration, from the environment. */
export const config: Config.Config<Settings> = Config.all({
  domain: validated(
    "ARCHIVE_DOMAIN",
    Config.string("ARCHIVE_DOMAIN").pipe(
      Config.withDefault("osa.example.org"),
      Config.withDescription("DNS name used in SRNs")
    ),
    (text) =>
      /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/.test(text)
        ? Either.right(text)
        : Either.left("must be a lower-case DNS name with a dot, e.g. osa.example.org")
  ),
  schema: validated(
    "ARCHIVE_SCHEMA",
    Config.string("ARCHIVE_SCHEMA").pipe(
      Config.withDefault("archive"),
      Config.withDescription("PostgreSQL schema of the archive's tables")
    ),
    (text) =>
      /^[a-z_][a-z0-9_]{0,47}$/.test(text) ? Either.right(text) : Either.left("must match /^[a-z_][a-z0-9_]{0,47}$/")
  ),
  indexes: validated(
    "ARCHIVE_INDEXES",
    Config.string("ARCHIVE_INDEXES").pipe(
      Config.withDefault("vector=vector,keyword=keyword"),
      Config.withDescription("index backends as name=kind pairs, kind keyword or vector")
    ),
    parseIndexes
  ),
  initialRuns: Config.all({
    sources: Config.string("ARCHIVE_SOURCES").pipe(
      Config.withDefault("sample"),
      Config.withDescription("sources with an initial run at first start, comma-separated (sample, geo)")
    ),
    since: validated(
      "ARCHIVE_SINCE",
      Config.string("ARCHIVE_SINCE").pipe(
        Config.withDefault("2000-01-01"),
        Config.withDescription("initial runs take records published on or after this day")
      ),
      (text) =>
        day.test(text) && !Number.isNaN(Date.parse(text)) ? Either.right(text) : Either.left("must be YYYY-MM-DD")
    ),
    limit: validated("ARCHIVE_LIMIT", Config.string("ARCHIVE_LIMIT"), integerFrom(1, Number.MAX_SAFE_INTEGER)).pipe(
      Config.withDefault(5_000),
      Config.withDescription("initial runs stop after this many records")
    ),
    chunkSize: validated("ARCHIVE_CHUNK_SIZE", Config.string("ARCHIVE_CHUNK_SIZE"), integerFrom(1, 500)).pipe(
      Config.withDefault(100),
      Config.withDescription("records per SourceRequested page")
    )
  }).pipe(
    Config.map(({ chunkSize, limit, since, sources }) =>
      sources.split(",").map((source) => source.trim()).filter((source) => source.length > 0).map((source) => ({
        source,
        since,
        limit,
        chunkSize
      }))
    )
  ),
  curation: Config.literal("auto", "manual")("ARCHIVE_CURATION").pipe(
    Config.withDefault("auto" as const),
    Config.withDescription("auto: approve what passed validation; manual: wait for a curator")
  )
})

export const defaults: Settings = {
  domain: "osa.example.org",
  schema: "archive",
  indexes: [{ name: "vector", kind: "vector" }, { name: "keyword", kind: "keyword" }],
  initialRuns: [{ source: "sample", since: "2000-01-01", limit: 5_000, chunkSize: 100 }],
  curation: "auto"
}

/** Explicit settings (tests, embedding), over the defaults. */
export const layer = (settings: Partial<Settings> = {}) => Layer.succeed(ArchiveConfig, { ...defaults, ...settings })

/** The configuration from the environment, as a layer; a bad value fails naming the variable. */
export const layerConfig = Layer.effect(ArchiveConfig, config)
