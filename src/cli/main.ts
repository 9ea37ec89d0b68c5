/**
 * `npm start`: the archive in one process. Embedded PostgreSQL (or `DATABASE_URL`),
 * migrations, the worker pool and the HTTP API; ingests the configured sources (by
 * default the shipped sample set) showing progress per stage, then prints the URL and
 * an example search, and serves until Ctrl-C (graceful shutdown).
 *
 *   npm start -- [--no-http] [--port 3000]
 *
 * Several processes share the work: start a second one with `--no-http` (or another
 * `--port`) on the same `DATABASE_URL` or `SLUICE_DATA_DIR`.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { parseArgs } from "node:util"
import * as Archive from "../archive/Archive.js"
import * as ArchiveConfig from "../archive/ArchiveConfig.js"
import { Search } from "../archive/search/Search.js"
import * as Server from "../http/Server.js"
import * as Run from "./Run.js"

const { values: flags } = parseArgs({
  options: {
    "no-http": { type: "boolean", default: false },
    port: { type: "string" }
  }
})

const exampleQuery = "hippocampus"

const showExampleSearch = (url: string, index: string) =>
  Effect.gen(function*() {
    const search = yield* Search
    const found = yield* search.search({ index, q: exampleQuery, limit: 3, offset: 0 })
    yield* Console.log(`example: curl '${url}/api/v1/search/${index}?q=${exampleQuery}&limit=3'`)
    yield* Console.log(`  ${found.total} results; first ${found.results.length}:`)
    for (const result of found.results) {
      yield* Console.log(`  ${result.score.toFixed(3)}  ${result.srn}  ${result.title}`)
    }
  })

const program = Effect.gen(function*() {
  const settings = yield* ArchiveConfig.config
  const http = flags["no-http"] ? undefined : yield* Server.config
  const port = flags.port === undefined ? http?.port : Number(flags.port)
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65_535)) {
    return yield* Effect.fail(new Error(`--port ${JSON.stringify(flags.port)}: must be an integer from 0 to 65535`))
  }
  return yield* Effect.gen(function*() {
    const url = http === undefined ? undefined : `http://${http.host}:${port}`
    if (http !== undefined) yield* Layer.build(Server.layer({ host: http.host, port }))
    const summary = yield* Run.startAndDrain(settings)
    yield* Console.log("ingest done:")
    yield* Console.log(Run.table(summary))
    if (url !== undefined) {
      yield* Console.log(`serving the archive API on ${url} (OpenAPI: ${url}/openapi.json, docs: ${url}/docs)`)
      const keyword = settings.indexes.find((index) => index.kind === "keyword") ?? settings.indexes[0]
      if (keyword !== undefined) yield* showExampleSearch(url, keyword.name)
    }
    yield* Console.log("running; press Ctrl-C to stop")
    return yield* Effect.never
  }).pipe(Effect.provide(Archive.layer(settings)))
})

Run.runMain(program)
