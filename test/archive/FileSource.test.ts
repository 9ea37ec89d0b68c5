import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as FileSource from "../../src/archive/source/FileSource.js"
import type { Source } from "../../src/archive/source/Source.js"
import type { UpstreamRecord } from "../../src/archive/source/UpstreamRecord.js"

const record = (accession: string, publicationDate: string): typeof UpstreamRecord.Encoded => ({
  accession,
  title: `Series ${accession}`,
  summary: "A summary.",
  organism: "Mus musculus",
  platform: "GPL24247",
  sampleCount: 6,
  publicationDate,
  type: "Expression profiling by high throughput sequencing"
})

// Deliberately out of order; GSE9999 sorts before GSE10000 (digits compare as numbers).
const records = [
  record("GSE20001", "2021/03/04"),
  record("GSE10000", "2012/07/15"),
  record("GSE150123", "2020/01/01"),
  record("GSE9999", "2019/12/31"),
  record("GSE30500", "2019/13/45"),
  record("GSE11000", "2024/02/29"),
  record("GSE40000", "2095/06/01")
]
const ordered = ["GSE9999", "GSE10000", "GSE11000", "GSE20001", "GSE30500", "GSE40000", "GSE150123"]

/** Writes `contents` to a file in a scoped temporary directory and returns its path. */
const tempFile = (contents: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sluice-filesource-" })
    const file = path.join(dir, "records.json")
    yield* fs.writeFileString(file, contents)
    return file
  })

const withSource = <A, E>(use: (source: Source) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const path = yield* tempFile(JSON.stringify(records))
    return yield* use(yield* FileSource.make({ path }))
  }).pipe(Effect.scoped)

const accessions = (page: { readonly records: ReadonlyArray<UpstreamRecord> }) => page.records.map((r) => r.accession)

const makeFails = (contents: string) =>
  Effect.gen(function*() {
    const path = yield* tempFile(contents)
    return { path, error: yield* Effect.flip(FileSource.make({ name: "fixture", path })) }
  }).pipe(Effect.scoped)

describe("FileSource", () => {
  it.layer(NodeContext.layer)((it) => {
    it.effect("serves every record in a stable order, paged by offset and count, with the total", () =>
      withSource((source) =>
        Effect.gen(function*() {
          assert.strictEqual(source.name, "sample")
          const all = yield* source.fetchPage({ since: "1900-01-01", offset: 0, count: 100 })
          assert.deepStrictEqual(accessions(all), ordered)
          assert.strictEqual(all.total, 7)

          const pages: Array<string> = []
          for (let offset = 0; offset < 7; offset += 3) {
            const page = yield* source.fetchPage({ since: "1900-01-01", offset, count: 3 })
            assert.strictEqual(page.total, 7)
            assert.isAtMost(page.records.length, 3)
            pages.push(...accessions(page))
          }
          assert.deepStrictEqual(pages, ordered)

          const past = yield* source.fetchPage({ since: "1900-01-01", offset: 7, count: 3 })
          assert.deepStrictEqual(past.records, [])
          assert.strictEqual(past.total, 7)
          // Asking again gives the same page.
          const again = yield* source.fetchPage({ since: "1900-01-01", offset: 3, count: 3 })
          assert.deepStrictEqual(accessions(again), ordered.slice(3, 6))
        })
      ))

    it.effect("since keeps records published on or after the day, and records whose date does not parse", () =>
      withSource((source) =>
        Effect.gen(function*() {
          const page = yield* source.fetchPage({ since: "2020-01-01", offset: 0, count: 100 })
          // GSE150123 is published on the day itself; GSE30500's date (2019/13/45) is not a date.
          assert.deepStrictEqual(accessions(page), ["GSE11000", "GSE20001", "GSE30500", "GSE40000", "GSE150123"])
          assert.strictEqual(page.total, 5)

          const paged = yield* source.fetchPage({ since: "2020-01-01", offset: 1, count: 2 })
          assert.deepStrictEqual(accessions(paged), ["GSE20001", "GSE30500"])
          assert.strictEqual(paged.total, 5)

          const later = yield* source.fetchPage({ since: "2024-03-01", offset: 0, count: 100 })
          assert.deepStrictEqual(accessions(later), ["GSE30500", "GSE40000"])

          const slashes = yield* source.fetchPage({ since: "2020/01/02", offset: 0, count: 100 })
          assert.strictEqual(slashes.total, 4)

          const error = yield* Effect.flip(source.fetchPage({ since: "last week", offset: 0, count: 10 }))
          assert.strictEqual(error._tag, "SourceError")
          assert.include(error.message, "\"last week\"")
        })
      ))

    it.effect("records decode into UpstreamRecord instances", () =>
      withSource((source) =>
        Effect.gen(function*() {
          const page = yield* source.fetchPage({ since: "2021-03-04", offset: 0, count: 1 })
          assert.deepStrictEqual({ ...page.records[0]! }, record("GSE11000", "2024/02/29"))
        })
      ))

    it.effect("a missing, unparseable or malformed file fails naming the path and the problem", () =>
      Effect.gen(function*() {
        const missing = yield* Effect.flip(FileSource.make({ name: "fixture", path: "/nonexistent/geo.json" }))
        assert.strictEqual(missing._tag, "SourceError")
        assert.strictEqual(missing.source, "fixture")
        assert.isFalse(missing.retryable)
        assert.include(missing.message, "/nonexistent/geo.json")
        assert.include(missing.message, "cannot read")

        const notJson = yield* makeFails("[{\"accession\": ")
        assert.include(notJson.error.message, notJson.path)
        // The JSON parser's own words, after our prefix ("Unexpected end of JSON input").
        assert.match(notJson.error.message, /upstream records: .*JSON/)
        assert.notInclude(notJson.error.message, "Expected ReadonlyArray")

        const notArray = yield* makeFails("{\"records\": []}")
        assert.include(notArray.error.message, notArray.path)
        assert.include(notArray.error.message, "Expected ReadonlyArray")

        const badRecord = yield* makeFails(JSON.stringify([records[0], { ...records[1], sampleCount: "six" }]))
        assert.include(badRecord.error.message, badRecord.path)
        assert.include(badRecord.error.message, "at [1].sampleCount: Expected number, actual \"six\"")

        const { accession: _, ...noAccession } = records[0]!
        const missingField = yield* makeFails(JSON.stringify([noAccession]))
        assert.include(missingField.error.message, "at [0].accession: is missing")
      }))

    it.effect("layerConfig serves the shipped sample by default, and ARCHIVE_SAMPLE_PATH overrides it", () =>
      Effect.gen(function*() {
        const shipped = yield* Effect.flatMap(
          FileSource.FileSource,
          (source) => source.fetchPage({ since: "1900-01-01", offset: 0, count: 5 })
        ).pipe(
          Effect.provide(FileSource.layerConfig),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
        )
        assert.strictEqual(shipped.total, 1200)
        assert.strictEqual(shipped.records.length, 5)

        const path = yield* tempFile(JSON.stringify(records))
        const custom = yield* Effect.flatMap(
          FileSource.FileSource,
          (source) => source.fetchPage({ since: "1900-01-01", offset: 0, count: 100 })
        ).pipe(
          Effect.provide(FileSource.layerConfig),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["ARCHIVE_SAMPLE_PATH", path]])))
        )
        assert.strictEqual(custom.total, 7)

        const named = yield* Effect.map(FileSource.FileSource, (source) => source.name).pipe(
          Effect.provide(FileSource.layer({ name: "offline", path }))
        )
        assert.strictEqual(named, "offline")
      }).pipe(Effect.scoped))
  })
})
