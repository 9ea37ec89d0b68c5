/**
 * Secrets stay secret: a password in a connection URL never reaches a log line, an
 * error message or a pretty-printed `Cause`, whatever refused the connection.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import { createServer } from "node:net"
import { inspect } from "node:util"
import * as Database from "../../src/runtime/Database.js"
import * as EmbeddedPostgres from "../../src/runtime/EmbeddedPostgres.js"
import * as Notifier from "../../src/runtime/Notifier.js"
import * as RuntimeConfig from "../../src/runtime/RuntimeConfig.js"
import * as TestDatabase from "../support/TestDatabase.js"

const secret = "Hunter2-s3cr3t-pässwörd"

/** The test server's URL with another password (and optionally port). */
const urlWith = (password: string, port?: number) => {
  const url = new URL(TestDatabase.serverUrl())
  url.password = encodeURIComponent(password)
  if (port !== undefined) url.port = String(port)
  return url.href
}

/** A port nothing listens on: bound, then closed. */
const closedPort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 1
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Every form a failure may take on its way to a user: message, string, pretty cause, inspected object. */
const renderings = (exit: Exit.Exit<unknown, unknown>): ReadonlyArray<string> => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  if (Exit.isSuccess(exit)) return []
  const error = Cause.squash(exit.cause)
  return [
    Cause.pretty(exit.cause),
    String(error),
    error instanceof Error ? error.message : "",
    inspect(error, { depth: 10 }),
    JSON.stringify(error) ?? ""
  ]
}

const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ annotations, cause, message }) => {
    lines.push(inspect({ message, annotations: [...annotations], cause: Cause.pretty(cause) }, { depth: 10 }))
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

const assertNoSecret = (texts: ReadonlyArray<string>, password = secret) => {
  const encoded = encodeURIComponent(password)
  for (const text of texts) {
    assert.notInclude(text, password)
    assert.notInclude(text, encoded)
  }
}

describe("Secrets", () => {
  it.live("a wrong password: the error names host, port and database, never the password", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      const exit = yield* Effect.exit(
        Effect.scoped(Database.make({ url: urlWith(secret), maxConnections: 1, connectTimeout: "5 seconds" }))
      ).pipe(Effect.provide(logs.layer))
      const texts = renderings(exit)
      assert.include(texts[2], "cannot connect to PostgreSQL at 127.0.0.1:")
      assert.include(texts[2], "password authentication failed")
      assertNoSecret([...texts, ...logs.lines])
    }))

  it.live("a refused port, and a URL that does not parse: no password either", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const refused = renderings(
        yield* Effect.exit(
          Effect.scoped(Database.make({ url: Redacted.make(urlWith(secret, port)), maxConnections: 1 }))
        )
      )
      assert.include(refused[2], `127.0.0.1:${port}`)
      assertNoSecret(refused)
      const unparseable = renderings(
        yield* Effect.exit(Effect.scoped(Database.make({ url: `postgres://app:${secret}@db:notaport/x` })))
      )
      assert.include(unparseable[2], "DATABASE_URL")
      assertNoSecret(unparseable)
      const wrongScheme = renderings(
        yield* Effect.exit(Effect.scoped(Database.make({ url: `mysql://app:${secret}@db:3306/x` })))
      )
      assert.include(wrongScheme[2], "mysql:")
      assertNoSecret(wrongScheme)
      const inQuery = renderings(
        yield* Effect.exit(
          Effect.scoped(Database.make({ url: `http://db/x?user=app&password=${secret}&sslkey=${secret}` }))
        )
      )
      assert.include(inQuery[2], "password=***")
      assert.include(inQuery[2], "sslkey=***")
      assertNoSecret(inQuery)
    }))

  it.live("DATABASE_URL from configuration, through Database.layerConfig", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      const provider = ConfigProvider.fromMap(new Map([["DATABASE_URL", urlWith(secret)]]))
      const exit = yield* Effect.exit(Layer.build(Database.layerConfig).pipe(Effect.scoped)).pipe(
        Effect.withConfigProvider(provider),
        Effect.provide(logs.layer)
      )
      const texts = renderings(exit)
      assert.include(texts[2], "password authentication failed")
      assertNoSecret([...texts, ...logs.lines])
    }))

  it.live("the LISTEN connection's failures are logged without the password", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      const { client } = yield* Database.make({ url: TestDatabase.serverUrl(), maxConnections: 1 })
      const settings = yield* RuntimeConfig.make({})
      yield* Notifier.make({ listenUrl: Redacted.make(urlWith(secret)) }).pipe(
        Effect.provideService(RuntimeConfig.RuntimeConfig, settings),
        Effect.provideService(PgClient.PgClient, client),
        Effect.provide(logs.layer)
      )
      const deadline = Date.now() + 10_000
      while (logs.lines.length < 2 && Date.now() < deadline) yield* Effect.sleep("20 millis")
      assert.isAtLeast(logs.lines.length, 2, "the notifier logs its failed attempts")
      assert.include(logs.lines[0], "LISTEN connection failed")
      assertNoSecret(logs.lines)
    }).pipe(Effect.scoped))

  it.live("the embedded server's admin helpers do not echo their URL", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(EmbeddedPostgres.createDatabase(urlWith(secret), "never_created"))
      const texts = renderings(exit)
      assert.include(texts[2], "cannot create database")
      assertNoSecret(texts)
    }))
})
