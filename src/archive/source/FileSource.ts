/**
 * A {@link Source} over a JSON file of upstream records, read once: the archive demo's
 * offline source, serving the sample data set shipped in `data/geo-sample.json`.
 *
 * Pages follow the GEO client's contract: records published on or after `since`, in a
 * stable order (by accession, digits compared as numbers), `offset`/`count` paging and
 * `total` counting every match. Records whose publication date does not parse are always
 * served: rejecting them is validation's job, not the source's.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Config from "effect/Config"
import type { ConfigError } from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { fileURLToPath } from "node:url"
import { parsePublicationDate } from "../validation/Rules.js"
import type { Page, PageRequest, Source } from "./Source.js"
import { SourceError } from "./Source.js"
import { UpstreamRecord } from "./UpstreamRecord.js"

/** Options for {@link make}. */
export interface Options {
  /** The source's name, stored with every deposition. Default `sample`. */
  readonly name?: string | undefined
  /** The JSON file: an array of encoded {@link UpstreamRecord}s. */
  readonly path: string
}

/** The sample data set shipped in the repository. */
export const samplePath: string = fileURLToPath(new URL("../../../data/geo-sample.json", import.meta.url))

export const defaults = { name: "sample", path: samplePath } as const

/** The file source, as a service. */
export class FileSource extends Context.Tag("archive/FileSource")<FileSource, Source>() {}

const RecordsFile = Schema.parseJson(Schema.Array(UpstreamRecord))

const sortKey = (accession: string): string => accession.replace(/\d+/g, (digits) => digits.padStart(16, "0"))

const compareAccessions = (a: UpstreamRecord, b: UpstreamRecord): number => {
  const ka = sortKey(a.accession)
  const kb = sortKey(b.accession)
  if (ka !== kb) return ka < kb ? -1 : 1
  return a.accession < b.accession ? -1 : a.accession > b.accession ? 1 : 0
}

/** `YYYY-MM-DD` of a record's date, or `undefined` when it is not a real date. */
const isoDay = (publicationDate: string): string | undefined =>
  parsePublicationDate(publicationDate)._tag === "Valid" ? publicationDate.replaceAll("/", "-") : undefined

/** The first few problems of a decoding failure, each as `at [12].sampleCount: Expected number, actual "six"`. */
const describe = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const shown = issues.slice(0, 3).map((issue) => {
    const path = issue.path.map((key) => typeof key === "number" ? `[${key}]` : `.${String(key)}`).join("")
    return path === "" ? issue.message : `at ${path.replace(/^\./, "")}: ${issue.message}`
  })
  return shown.join("; ") + (issues.length > 3 ? ` (and ${issues.length - 3} more)` : "")
}

const sincePattern = /^\d{4}[-/]\d{2}[-/]\d{2}$/

/**
 * Reads and decodes the file once, then serves pages from memory. A missing, unreadable
 * or malformed file fails with a {@link SourceError} naming the path and the problem.
 *
 * @example
 * ```ts
 * const source = yield* FileSource.make({ path: "data/geo-sample.json" })
 * const page = yield* source.fetchPage({ since: "2020-01-01", offset: 0, count: 100 })
 * ```
 */
export const make = Effect.fn("FileSource.make")(function*(options: Options) {
  const name = options.name ?? defaults.name
  const fail = (problem: string) =>
    new SourceError({ source: name, message: `sample file ${options.path}: ${problem}`, retryable: false })

  const fs = yield* FileSystem.FileSystem
  const text = yield* fs.readFileString(options.path).pipe(
    Effect.mapError((error) => fail(`cannot read it (${error.message})`))
  )
  const decoded = yield* Schema.decode(RecordsFile)(text).pipe(
    Effect.mapError((error) => fail(`not a JSON array of upstream records: ${describe(error)}`))
  )
  const records = [...decoded].sort(compareAccessions)
  const days = records.map((record) => isoDay(record.publicationDate))
  yield* Effect.annotateCurrentSpan({ path: options.path, records: records.length })

  const fetchPage = Effect.fn("FileSource.fetchPage")(function*(request: PageRequest) {
    yield* Effect.annotateCurrentSpan({ source: name, since: request.since, offset: request.offset })
    if (request.since !== "" && !sincePattern.test(request.since)) {
      return yield* new SourceError({
        source: name,
        message: `since must be a day as YYYY-MM-DD, got ${JSON.stringify(request.since)}`,
        retryable: false
      })
    }
    const since = request.since.replaceAll("/", "-")
    const matching = records.filter((_, i) => {
      const day = days[i]
      return day === undefined || day >= since
    })
    const offset = Math.max(0, Math.trunc(request.offset))
    const count = Math.max(0, Math.trunc(request.count))
    const page: Page = { records: matching.slice(offset, offset + count), total: matching.length }
    return page
  })

  const source: Source = { name, fetchPage }
  return source
})

/** A layer from explicit options. */
export const layer = (options: Options): Layer.Layer<FileSource, SourceError, FileSystem.FileSystem> =>
  Layer.effect(FileSource, make(options))

/** The options read from configuration: `ARCHIVE_SAMPLE_PATH`, default the shipped sample. */
export const config: Config.Config<Options> = Config.all({
  name: Config.succeed(defaults.name),
  path: Config.string("ARCHIVE_SAMPLE_PATH").pipe(
    Config.withDefault(defaults.path),
    Config.withDescription("JSON file of upstream records served by the sample source")
  )
})

/** A layer reading its options from configuration. */
export const layerConfig: Layer.Layer<FileSource, SourceError | ConfigError, FileSystem.FileSystem> = Layer
  .effect(FileSource, Effect.flatMap(config, make))
