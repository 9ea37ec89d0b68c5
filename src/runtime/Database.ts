/**
 * The database connection of the runtime: a `PgClient` (also provided as `SqlClient`) on
 * `DATABASE_URL` when it is set, otherwise on an embedded PostgreSQL server started from
 * the data folder (see {@link EmbeddedPostgres}).
 *
 * It also provides {@link DatabaseUrl}, the connection URL in use, for connections that
 * cannot come from the pool (the runtime's dedicated LISTEN connection).
 *
 * The URL is validated at start (`InvalidConfig` naming `DATABASE_URL` and the rule), and
 * the first connection is bounded by `connectTimeout` (`DatabaseUnavailable` naming host
 * and port). No message ever contains the password.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function*() {
 *   const sql = yield* SqlClient.SqlClient
 *   yield* sql`SELECT 1`
 * }).pipe(Effect.provide(Database.layerConfig))
 * ```
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlError from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import pg from "pg"
import * as EmbeddedPostgres from "./EmbeddedPostgres.js"
import { DatabaseUnavailable, InvalidConfig } from "./Errors.js"
import {
  booleanVariable,
  checked,
  durationVariable,
  integerBetween,
  integerVariable,
  positiveDuration,
  show
} from "./internal/configRules.js"
import * as PreparedStatements from "./internal/PreparedStatements.js"
import * as Statements from "./internal/Statements.js"

/** Options for {@link layer}. */
export interface Options {
  /** A `postgres://` or `postgresql://` URL. Unset: start the embedded server on `dataDir`. */
  readonly url?: Redacted.Redacted | string | undefined
  /** The embedded server's data folder, when `url` is unset. Default `.sluice`. */
  readonly dataDir?: string | undefined
  /** Size of the connection pool. Default 10. */
  readonly maxConnections?: number | undefined
  /** `application_name` of the pool's connections. Default `sluice`. */
  readonly applicationName?: string | undefined
  /** Bound on opening the first connection. Default 10 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * Send parameterized statements as named prepared statements, parsed and planned once per
   * connection. Default true; turn off behind a pooler in transaction mode that cannot keep them.
   */
  readonly prepareStatements?: boolean | undefined
}

/** Defaults of {@link Options}. */
export const defaults = {
  dataDir: EmbeddedPostgres.defaults.dataDir,
  maxConnections: 10,
  applicationName: "sluice",
  connectTimeout: Duration.seconds(10),
  prepareStatements: true
} as const

/** The connection URL in use (contains the password, hence redacted). */
export class DatabaseUrl extends Context.Tag("sluice/DatabaseUrl")<DatabaseUrl, Redacted.Redacted<string>>() {}

const maxPoolSize = 10_000

const checkApplicationName = (name: string): Either.Either<string, string> =>
  /^[\x20-\x7e]{1,63}$/.test(name)
    ? Either.right(name)
    : Either.left("must be 1 to 63 printable ASCII characters (PostgreSQL truncates or mangles others)")

const checkDataDir = (dir: string): Either.Either<string, string> =>
  dir.trim().length > 0 && !dir.includes("\0")
    ? Either.right(dir)
    : Either.left("must be a non-empty folder path")

/** The options read from configuration. */
export const config: Config.Config<Options> = Config.all({
  url: Config.redacted("DATABASE_URL").pipe(
    Config.option,
    Config.map(Option.getOrUndefined),
    Config.withDescription("PostgreSQL URL (postgres://user:password@host:port/database); unset: embedded server")
  ),
  dataDir: checked("SLUICE_DATA_DIR", checkDataDir).pipe(
    Config.withDefault(defaults.dataDir),
    Config.withDescription("Folder of the embedded PostgreSQL server, used when DATABASE_URL is unset")
  ),
  maxConnections: integerVariable("SLUICE_DB_MAX_CONNECTIONS", 1, maxPoolSize).pipe(
    Config.withDefault(defaults.maxConnections),
    Config.withDescription("Size of the database connection pool")
  ),
  applicationName: checked("SLUICE_DB_APPLICATION_NAME", checkApplicationName).pipe(
    Config.withDefault(defaults.applicationName),
    Config.withDescription("application_name of the database connections")
  ),
  connectTimeout: durationVariable("SLUICE_DB_CONNECT_TIMEOUT").pipe(
    Config.withDefault(defaults.connectTimeout),
    Config.withDescription("Bound on opening the first database connection")
  ),
  prepareStatements: booleanVariable("SLUICE_DB_PREPARE").pipe(
    Config.withDefault(defaults.prepareStatements),
    Config.withDescription(
      "Send parameterized statements as named prepared statements (off behind a transaction-mode pooler)"
    )
  )
})

const subject = "sluice database"

/** Where a URL points, without its credentials. */
export interface Target {
  readonly host: string
  readonly port: number
  readonly database: string
}

/** Query parameters that carry secrets (`password`, `sslpassword`, `sslkey`, tokens). */
const secretParameter = /pass|secret|token|key/i

/**
 * A URL with its password (in the user info or a query parameter) replaced by `***`, for messages. A string that does not parse
 * as a URL is reduced to its scheme (when it has one) and length.
 */
export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    for (const name of [...parsed.searchParams.keys()]) {
      if (secretParameter.test(name)) parsed.searchParams.set(name, "***")
    }
    return parsed.href
  } catch {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]
    return `<${scheme === undefined ? "" : `${scheme}: `}unparseable, ${url.length} characters>`
  }
}

const invalidUrl = (url: string, rule: string) =>
  new InvalidConfig({ subject, field: "DATABASE_URL", value: redactUrl(url), rule })

/** Checks that `url` is a usable PostgreSQL URL, and says where it points. */
export const parseUrl = (url: string): Effect.Effect<Target, InvalidConfig> => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return Effect.fail(invalidUrl(url, "must be a URL of the form postgres://user:password@host:port/database"))
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    return Effect.fail(invalidUrl(url, `must use the postgres:// or postgresql:// scheme, not ${parsed.protocol}//`))
  }
  if (parsed.hostname === "") {
    return Effect.fail(invalidUrl(url, "a postgres:// URL must name a host"))
  }
  const port = parsed.port === "" ? 5432 : Number(parsed.port)
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, "")) ||
    decodeURIComponent(parsed.username) || "postgres"
  return Effect.succeed({ host: parsed.hostname, port, database })
}

const checkOption = <A>(field: string, value: unknown, rule: (value: unknown) => Either.Either<A, string>) =>
  Either.match(rule(value), {
    onLeft: (broken) => Effect.fail(new InvalidConfig({ subject, field, value: show(value), rule: broken })),
    onRight: Effect.succeed
  })

const describe = (cause: unknown): string => {
  if (cause instanceof SqlError.SqlError && cause.cause !== undefined) return describe(cause.cause)
  if (cause instanceof Error) return cause.message || cause.name
  return String(cause)
}

/**
 * Opens the pool on `url` (or on the embedded server) for the lifetime of the scope.
 * Prefer {@link layer}; this is the same thing as an Effect.
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  {
    readonly client: PgClient.PgClient
    readonly url: Redacted.Redacted<string>
    readonly pool: Statements.PoolConnection
  },
  DatabaseUnavailable | InvalidConfig,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const maxConnections = yield* checkOption(
      "maxConnections",
      options.maxConnections ?? defaults.maxConnections,
      integerBetween(1, maxPoolSize)
    )
    const connectTimeout = yield* checkOption(
      "connectTimeout",
      options.connectTimeout ?? defaults.connectTimeout,
      positiveDuration
    )
    const applicationName = yield* checkOption(
      "applicationName",
      options.applicationName ?? defaults.applicationName,
      (value) => typeof value === "string" ? checkApplicationName(value) : Either.left("must be a string")
    )
    if (options.url === undefined) {
      yield* checkOption(
        "dataDir",
        options.dataDir ?? defaults.dataDir,
        (value) => typeof value === "string" ? checkDataDir(value) : Either.left("must be a string")
      )
    }
    if (options.url !== undefined && !Redacted.isRedacted(options.url) && typeof options.url !== "string") {
      return yield* new InvalidConfig({
        subject,
        field: "DATABASE_URL",
        value: typeof options.url,
        rule: "must be a string or Redacted string"
      })
    }
    const url: Redacted.Redacted<string> = options.url !== undefined
      ? Redacted.make(Redacted.isRedacted(options.url) ? Redacted.value(options.url) as string : options.url)
      : Redacted.make((yield* EmbeddedPostgres.make({ dataDir: options.dataDir ?? defaults.dataDir })).url)
    const target = yield* parseUrl(Redacted.value(url))
    const prepareStatements = yield* checkOption(
      "prepareStatements",
      options.prepareStatements ?? defaults.prepareStatements,
      (value) => typeof value === "boolean" ? Either.right(value) : Either.left("must be true or false")
    )
    const { client, pool } = yield* Effect.gen(function*() {
      const pool = yield* openPool({ url, maxConnections, connectTimeout, applicationName, prepareStatements })
      const client = yield* PgClient.fromPool({ acquire: Effect.succeed(pool), applicationName })
      return { client, pool: Statements.fromPool(pool) }
    }).pipe(
      Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make),
      Effect.mapError((error) =>
        new DatabaseUnavailable({
          message: `${subject}: cannot connect to PostgreSQL at ${target.host}:${target.port} (database ` +
            `"${target.database}", connect timeout ${Duration.format(connectTimeout)}): ${describe(error)}`,
          cause: error
        })
      )
    )
    return { client, url, pool }
  }).pipe(
    // Connecting waits on real sockets: keep the timeout real under TestClock too.
    Effect.withClock(Clock.make()),
    Effect.withSpan("Database.make")
  )

/** The pool behind the client: `PgClient.make`'s, with the statement-preparing connection class. */
const openPool = (options: {
  readonly url: Redacted.Redacted<string>
  readonly maxConnections: number
  readonly connectTimeout: Duration.Duration
  readonly applicationName: string
  readonly prepareStatements: boolean
}): Effect.Effect<pg.Pool, SqlError.SqlError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const pool = new pg.Pool({
        connectionString: Redacted.value(options.url),
        max: options.maxConnections,
        connectionTimeoutMillis: Duration.toMillis(options.connectTimeout),
        application_name: options.applicationName,
        ...(options.prepareStatements
          ? { Client: PreparedStatements.clientClass(PreparedStatements.processNames) }
          : {})
      })
      // A connection that breaks while idle is dropped by the pool; queries on it fail on their own.
      pool.on("error", () => {})
      return pool
    }),
    (pool) => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption(1000))
  ).pipe(
    Effect.tap((pool) =>
      Effect.tryPromise({
        try: () => pool.query("SELECT 1"),
        catch: (cause) => new SqlError.SqlError({ cause, message: "PgClient: Failed to connect" })
      })
    ),
    Effect.timeoutFail({
      duration: options.connectTimeout,
      onTimeout: () =>
        new SqlError.SqlError({ cause: new Error("Connection timed out"), message: "PgClient: Connection timed out" })
    })
  )

/** The services of a database {@link make} opened, as {@link layer} provides them. */
export const contextOf = ({ client, pool, url }: Effect.Effect.Success<ReturnType<typeof make>>) =>
  Context.make(PgClient.PgClient, client).pipe(
    Context.add(SqlClient.SqlClient, client),
    Context.add(DatabaseUrl, url),
    Context.add(Statements.Pool, pool)
  )

/**
 * The database from explicit options.
 *
 * @example
 * ```ts
 * Database.layer({ url: "postgres://app:secret@db:5432/app", maxConnections: 20 })
 * Database.layer({ dataDir: ".sluice" }) // embedded server
 * ```
 */
export const layer = (
  options: Options = {}
): Layer.Layer<
  PgClient.PgClient | SqlClient.SqlClient | DatabaseUrl | Statements.Pool,
  DatabaseUnavailable | InvalidConfig
> => Layer.scopedContext(Effect.map(make(options), contextOf))

/**
 * The database from configuration: `DATABASE_URL`, else the embedded server on
 * `SLUICE_DATA_DIR`; `SLUICE_DB_MAX_CONNECTIONS`, `SLUICE_DB_APPLICATION_NAME`, `SLUICE_DB_PREPARE`,
 * `SLUICE_DB_CONNECT_TIMEOUT`.
 */
export const layerConfig: Layer.Layer<
  PgClient.PgClient | SqlClient.SqlClient | DatabaseUrl | Statements.Pool,
  DatabaseUnavailable | InvalidConfig | ConfigError.ConfigError
> = Layer.scopedContext(Effect.map(Effect.flatMap(config, make), contextOf))
