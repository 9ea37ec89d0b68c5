import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as ConfigProvider from "effect/ConfigProvider"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import * as Geo from "../../src/archive/source/Geo.js"
import type { Page, Source, SourceError } from "../../src/archive/source/Source.js"
import { UpstreamRecord } from "../../src/archive/source/UpstreamRecord.js"
import type { InvalidConfig } from "../../src/runtime/Errors.js"
import * as EutilsServer from "../support/EutilsServer.js"

const record = (n: number, publicationDate: string, accession = `GSE${100_000 + n}`) =>
  new UpstreamRecord({
    accession,
    title: `Series ${n}`,
    summary: `Summary of series ${n}, with "quotes" & ünïcödé.`,
    organism: n % 2 === 0 ? "Homo sapiens" : "Mus musculus; Homo sapiens",
    platform: n % 3 === 0 ? "GPL24676; GPL11154" : "GPL24676",
    sampleCount: n + 1,
    publicationDate,
    type: "Expression profiling by high throughput sequencing"
  })

/** Fast retries and no rate limit, so the tests spend their time on what they check. */
const fast: Geo.Options = {
  email: "archive@example.org",
  retryBaseDelay: "10 millis",
  requestsPerSecond: Number.POSITIVE_INFINITY
}

const geo = (server: EutilsServer.EutilsServer, options: Geo.Options = {}) =>
  Geo.make({ ...fast, baseUrl: server.url, ...options })

/** The HTTP client for one test (a test runs once, so providing it here is fine). */
const withHttp = <A, E>(effect: Effect.Effect<A, E, HttpClient.HttpClient | Scope.Scope>) =>
  effect.pipe(Effect.provide(NodeHttpClient.layerUndici))

const allPages = (source: Source, since: string, pageSize: number) =>
  Effect.gen(function*() {
    const pages: Array<Page> = []
    for (let offset = 0;; offset += pageSize) {
      const page = yield* source.fetchPage({ since, offset, count: pageSize })
      pages.push(page)
      if (offset + pageSize >= page.total) return pages
    }
  })

const expectSourceError = (error: unknown, retryable: boolean): SourceError => {
  const e = error as SourceError
  assert.strictEqual(e._tag, "SourceError")
  assert.strictEqual(e.source, "geo")
  assert.strictEqual(e.retryable, retryable, e.message)
  return e
}

const liveSleep = (duration: Duration.DurationInput) => Effect.sleep(duration).pipe(TestServices.provideLive)

const eventually = <A>(check: Effect.Effect<A>, done: (a: A) => boolean, tries = 500): Effect.Effect<A, Error> =>
  Effect.flatMap(check, (a) =>
    done(a)
      ? Effect.succeed(a)
      : tries === 0
      ? Effect.fail(new Error(`condition not reached; last value ${JSON.stringify(a)}`))
      : Effect.zipRight(liveSleep("10 millis"), eventually(check, done, tries - 1)))

const endpoints = (requests: ReadonlyArray<EutilsServer.RecordedRequest>) => requests.map((r) => r.endpoint)

// 25 series, one a day from 2024/01/01; the first two fall before `since`.
const series = Array.from({ length: 25 }, (_, i) => record(i, `2024/01/${String(i + 1).padStart(2, "0")}`))
const since = "2024-01-03"
const matching = series.slice(2)

describe("Geo source", () => {
  it.scopedLive("pages through the results: offsets, total, the last short page, past the end", () =>
    withHttp(Effect.gen(function*() {
      const server = yield* EutilsServer.make(series)
      const source = yield* geo(server)
      assert.strictEqual(source.name, "geo")

      const pages = yield* allPages(source, since, 5)
      assert.deepStrictEqual(pages.map((page) => page.records.length), [5, 5, 5, 5, 3])
      assert.deepStrictEqual(pages.map((page) => page.total), [23, 23, 23, 23, 23])
      assert.deepStrictEqual(pages.flatMap((page) => page.records), matching)
      assert.instanceOf(pages[0]!.records[0], UpstreamRecord)

      yield* server.reset
      for (const offset of [23, 1000]) {
        assert.deepStrictEqual(yield* source.fetchPage({ since, offset, count: 5 }), { records: [], total: 23 })
      }
      // Nothing to summarise: no esummary request.
      assert.deepStrictEqual(endpoints(yield* server.requests), ["esearch", "esearch"])

      const later = yield* source.fetchPage({ since: "2024-01-20", offset: 0, count: 100 })
      assert.deepStrictEqual(later, { records: series.slice(19), total: 6 })
      assert.deepStrictEqual(yield* source.fetchPage({ since: "2025-01-01", offset: 0, count: 10 }), {
        records: [],
        total: 0
      })
    })))

  it.scopedLive("sends the E-utilities parameters: history, dates, paging, email, tool, api_key", () =>
    withHttp(Effect.gen(function*() {
      const server = yield* EutilsServer.make(series, { apiKey: "k3y-s3cr3t" })
      const source = yield* geo(server, { apiKey: Redacted.make("k3y-s3cr3t"), tool: "sluice-test", term: "cancer" })
      yield* source.fetchPage({ since, offset: 4, count: 7 })
      const [search, summary, ...rest] = yield* server.requests
      assert.strictEqual(rest.length, 0)
      assert.strictEqual(search!.path, "/entrez/eutils/esearch.fcgi")
      assert.deepStrictEqual(search!.query, {
        db: "gds",
        term: "cancer",
        datetype: "pdat",
        mindate: "2024/01/03",
        maxdate: "3000",
        usehistory: "y",
        retmode: "json",
        retstart: "4",
        retmax: "7",
        email: "archive@example.org",
        tool: "sluice-test",
        api_key: "k3y-s3cr3t"
      })
      assert.strictEqual(summary!.path, "/entrez/eutils/esummary.fcgi")
      assert.deepStrictEqual(summary!.query, {
        db: "gds",
        query_key: "1",
        WebEnv: `MCID_${"1".padStart(24, "0")}`,
        retstart: "4",
        retmax: "7",
        retmode: "json",
        email: "archive@example.org",
        tool: "sluice-test",
        api_key: "k3y-s3cr3t"
      })

      // Defaults: no email, no api_key, tool `sluice`, term `GSE[ETYP]`.
      yield* server.reset
      const plain = yield* Geo.make({ baseUrl: server.url, requestsPerSecond: Number.POSITIVE_INFINITY })
      yield* plain.fetchPage({ since: "2024-01-03", offset: 0, count: 1 })
      for (const request of yield* server.requests) {
        assert.strictEqual(request.query.tool, "sluice")
        assert.notProperty(request.query, "email")
        assert.notProperty(request.query, "api_key")
      }
      assert.strictEqual((yield* server.requests)[0]!.query.term, "GSE[ETYP]")
    })))

  it.scopedLive("reads esummary in batches of at most 100, keeps only series, skips withdrawn records", () =>
    withHttp(Effect.gen(function*() {
      const many = Array.from({ length: 260 }, (_, i) =>
        i % 50 === 7
          ? record(i, "2024/02/01", i % 100 === 7 ? `GDS${i}` : `GPL${i}`)
          : record(i, "2024/02/01"))
      const server = yield* EutilsServer.make(many, { unavailable: ["GSE100200"] })
      const source = yield* geo(server)

      const page = yield* source.fetchPage({ since: "2024-02-01", offset: 0, count: 250 })
      assert.strictEqual(page.total, 260)
      const kept = (r: UpstreamRecord) => r.accession.startsWith("GSE") && r.accession !== "GSE100200"
      assert.deepStrictEqual(page.records, many.slice(0, 250).filter(kept))
      assert.strictEqual(page.records.length, 244)
      const summaries = (yield* server.requests).filter((r) => r.endpoint === "esummary")
      assert.deepStrictEqual(summaries.map((r) => [r.query.retstart, r.query.retmax]), [
        ["0", "100"],
        ["100", "100"],
        ["200", "50"]
      ])

      yield* server.reset
      const shifted = yield* source.fetchPage({ since: "2024-02-01", offset: 30, count: 120 })
      assert.deepStrictEqual(shifted.records, many.slice(30, 150).filter(kept))
      assert.deepStrictEqual(
        (yield* server.requests).filter((r) => r.endpoint === "esummary").map((
          r
        ) => [r.query.retstart, r.query.retmax]),
        [["30", "100"], ["130", "20"]]
      )
    })))

  it.scopedLive("retries 429 (waiting out Retry-After), 5xx, dropped connections, timeouts and NCBI errors", () =>
    withHttp(Effect.gen(function*() {
      const server = yield* EutilsServer.make(series)
      const source = yield* geo(server, { requestTimeout: "300 millis" })
      const request = { since, offset: 0, count: 5 }
      const expected = { records: matching.slice(0, 5), total: 23 }

      yield* server.script([{ status: 429, retryAfter: "1" }, { status: 500 }, "ok", { status: 503 }, "ncbi-error"])
      assert.deepStrictEqual(yield* source.fetchPage(request), expected)
      const first = yield* server.requests
      assert.deepStrictEqual(endpoints(first), ["esearch", "esearch", "esearch", "esummary", "esummary", "esummary"])
      // (`Date.now()` and Node's timers may disagree by a millisecond.)
      assert.isAtLeast(first[1]!.at - first[0]!.at, 995, "waited out Retry-After: 1")
      assert.isBelow(first[2]!.at - first[1]!.at, 500, "no Retry-After: short backoff")

      // Retry-After as an HTTP date (second resolution): no retry before that instant.
      yield* server.reset
      const until = new Date(Date.now() + 1500).toUTCString()
      yield* server.script([{ status: 503, retryAfter: until }])
      assert.deepStrictEqual(yield* source.fetchPage(request), expected)
      const dated = yield* server.requests
      assert.strictEqual(dated.length, 3)
      assert.isAtLeast(dated[1]!.at, Date.parse(until) - 5)

      yield* server.reset
      // esearch: a dropped connection, no answer in time, half a body, 429 without Retry-After,
      // NCBI's in-band error, then success; esummary: half a body, then success.
      yield* server.script([
        "reset",
        { delay: "5 seconds" },
        "truncated",
        { status: 429 },
        "ncbi-error",
        "ok",
        "truncated"
      ])
      assert.deepStrictEqual(yield* source.fetchPage(request), expected)
      const recovered = yield* server.requests
      assert.deepStrictEqual(endpoints(recovered), [
        ...Array.from({ length: 6 }, () => "esearch"),
        "esummary",
        "esummary"
      ])
      assert.deepStrictEqual(recovered.map((r) => r.fault), [
        "reset",
        { delay: "5 seconds" },
        "truncated",
        { status: 429 },
        "ncbi-error",
        "ok",
        "truncated",
        "ok"
      ])
    })))

  it.scopedLive("gives up after maxRetries with a retryable error naming the URL and last status, never the key", () =>
    withHttp(Effect.gen(function*() {
      const server = yield* EutilsServer.make(series, { apiKey: "k3y-s3cr3t" })
      const logs: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ annotations, message }) => logs.push(JSON.stringify({ message, annotations: [...annotations] })))
      )
      const source = yield* geo(server, { apiKey: Redacted.make("k3y-s3cr3t"), maxRetries: 2 })
      yield* server.script([{ status: 503 }, { status: 502 }, { status: 503 }, "ok"])
      const error = expectSourceError(
        yield* Effect.flip(source.fetchPage({ since, offset: 0, count: 5 })).pipe(
          Effect.provide(capture),
          Logger.withMinimumLogLevel(LogLevel.Debug)
        ),
        true
      )
      assert.strictEqual(
        error.message,
        `GEO esearch failed after 3 attempts: GET ${server.url}/esearch.fcgi?db=gds&term=GSE%5BETYP%5D&datetype=pdat` +
          "&mindate=2024%2F01%2F03&maxdate=3000&usehistory=y&retmode=json&retstart=0&retmax=5" +
          "&email=archive%40example.org&tool=sluice: last status 503"
      )
      assert.strictEqual((yield* server.requests).length, 3)
      assert.strictEqual(logs.length, 3, "one debug line per failed attempt")
      for (const text of [error.message, String(error), JSON.stringify(error), ...logs]) {
        assert.notInclude(text, "k3y-s3cr3t")
      }

      // A Retry-After beyond retryMaxDelay is not waited out in place.
      yield* server.reset
      yield* server.script([{ status: 429, retryAfter: "120" }])
      const later = expectSourceError(yield* Effect.flip(source.fetchPage({ since, offset: 0, count: 5 })), true)
      assert.include(later.message, "status 429 (Retry-After 2m), longer than retryMaxDelay (1m)")
      assert.strictEqual((yield* server.requests).length, 1)

      // A body that never arrives whole: retryable too.
      yield* server.reset
      yield* server.script(["truncated", "truncated", "truncated"])
      const truncated = expectSourceError(yield* Effect.flip(source.fetchPage({ since, offset: 0, count: 5 })), true)
      assert.include(truncated.message, "failed after 3 attempts")
      assert.include(truncated.message, "not JSON (truncated?)")
    })))

  it.scopedLive("fails without retrying, and without records, on 4xx, a wrong shape or a bad page request", () =>
    withHttp(Effect.gen(function*() {
      const server = yield* EutilsServer.make(series, { apiKey: "right-key" })
      const source = yield* geo(server)
      const request = { since, offset: 0, count: 5 }

      yield* server.script([{ status: 404 }])
      const notFound = expectSourceError(yield* Effect.flip(source.fetchPage(request)), false)
      assert.match(notFound.message, /^GEO esearch failed: GET http:\/\/127\.0\.0\.1:\d+\/.+: status 404$/)
      assert.strictEqual((yield* server.requests).length, 1)

      // NCBI's answer to a bad key echoes the key: it must not reach the error.
      yield* server.reset
      const wrongKey = yield* geo(server, { apiKey: Redacted.make("wrong-key") })
      const rejected = expectSourceError(yield* Effect.flip(wrongKey.fetchPage(request)), false)
      assert.include(rejected.message, "status 400")
      assert.notInclude(JSON.stringify(rejected), "wrong-key")
      assert.strictEqual((yield* server.requests).length, 1)

      yield* server.reset
      yield* server.script(["wrong-shape"])
      const shape = expectSourceError(yield* Effect.flip(source.fetchPage(request)), false)
      assert.include(shape.message, "GEO esearch answered with an unexpected shape")
      assert.include(shape.message, "esearchresult")
      assert.strictEqual((yield* server.requests).length, 1)

      // esearch succeeded, then esummary's body is wrong: no half page.
      yield* server.reset
      yield* server.script(["ok", "wrong-shape"])
      const summaryShape = expectSourceError(
        yield* Effect.flip(source.fetchPage({ since, offset: 0, count: 150 })),
        false
      )
      assert.include(summaryShape.message, "GEO esummary answered with an unexpected shape")
      assert.deepStrictEqual(endpoints(yield* server.requests), ["esearch", "esummary"])

      yield* server.reset
      for (
        const bad of [
          { since: "yesterday", offset: 0, count: 5 },
          { since, offset: -1, count: 5 },
          { since, offset: 0, count: 10_001 }
        ]
      ) {
        expectSourceError(yield* Effect.flip(source.fetchPage(bad)), false)
      }
      assert.strictEqual((yield* server.requests).length, 0)
    })))

  it.scopedLive("spaces requests to the rate limit: 3/s, or 10/s with an API key, by default", () =>
    withHttp(Effect.gen(function*() {
      assert.strictEqual((yield* Geo.resolve({})).requestsPerSecond, 3)
      assert.strictEqual((yield* Geo.resolve({ apiKey: Redacted.make("key") })).requestsPerSecond, 10)

      const server = yield* EutilsServer.make(series)
      const source = yield* geo(server, { requestsPerSecond: 10 })
      yield* Effect.all([
        source.fetchPage({ since, offset: 0, count: 5 }),
        source.fetchPage({ since, offset: 5, count: 5 }),
        source.fetchPage({ since, offset: 10, count: 5 })
      ], { concurrency: "unbounded" })
      const times = (yield* server.requests).map((r) => r.at)
      assert.strictEqual(times.length, 6)
      for (let i = 1; i < times.length; i++) {
        // At least 100 ms apart when sent; allow for some delay on the way in a busy process.
        assert.isAtLeast(times[i]! - times[i - 1]!, 75, `gap before request ${i}`)
      }
    })))

  it.scoped("backoff and Retry-After run on Effect's Clock (TestClock)", () =>
    withHttp(Effect.gen(function*() {
      const server = yield* EutilsServer.make(series)
      const source = yield* geo(server, { retryMaxDelay: "5 minutes", requestTimeout: "10 minutes" })
      yield* server.script([{ status: 429, retryAfter: "120" }])
      const fiber = yield* Effect.fork(source.fetchPage({ since, offset: 0, count: 5 }))
      yield* eventually(TestClock.sleeps(), Chunk.some((end) => end === 120_000))
      yield* TestClock.adjust("119 seconds")
      yield* liveSleep("100 millis")
      assert.strictEqual((yield* server.requests).length, 1)
      yield* TestClock.adjust("1 second")
      const page = yield* Fiber.join(fiber)
      assert.strictEqual(page.records.length, 5)
      assert.deepStrictEqual(endpoints(yield* server.requests), ["esearch", "esearch", "esummary"])
    })))

  it.scopedLive("validates its options, naming the field (or variable), the value and the rule", () =>
    withHttp(Effect.gen(function*() {
      const invalid = (options: Geo.Options) => Effect.flip(Geo.make(options))
      const cases: ReadonlyArray<readonly [Geo.Options, Partial<InvalidConfig>]> = [
        [{ baseUrl: "not a url" }, {
          field: "baseUrl",
          value: "\"not a url\"",
          rule: "must be an absolute http(s) URL without query or fragment"
        }],
        [{ baseUrl: "ftp://example.org/eutils" }, { field: "baseUrl", value: "\"ftp://example.org/eutils\"" }],
        [{ email: "nobody" }, { field: "email", value: "\"nobody\"" }],
        [{ tool: "my tool" }, { field: "tool" }],
        [{ term: " " }, { field: "term" }],
        [{ maxRetries: -1 }, { field: "maxRetries", value: "-1", rule: "must be an integer from 0 to 20" }],
        [{ maxRetries: 1.5 }, { field: "maxRetries", value: "1.5" }],
        [{ retryBaseDelay: "soon" as never }, { field: "retryBaseDelay", value: "\"soon\"" }],
        [{ retryBaseDelay: "2 minutes" }, { field: "retryMaxDelay", rule: "must be at least retryBaseDelay (2m)" }],
        [{ requestsPerSecond: 0 }, { field: "requestsPerSecond", value: "0" }],
        [{ apiKey: Redacted.make("a key") }, { field: "apiKey", value: "<redacted>" }]
      ]
      for (const [options, expected] of cases) {
        const error = yield* invalid(options)
        assert.strictEqual(error._tag, "InvalidConfig")
        for (const [key, value] of Object.entries(expected)) {
          assert.strictEqual(error[key as keyof InvalidConfig], value, `${JSON.stringify(options)}: ${key}`)
        }
      }
      assert.strictEqual(
        (yield* invalid({ baseUrl: "not a url" })).message,
        "GEO source: invalid baseUrl = \"not a url\": must be an absolute http(s) URL without query or fragment"
      )

      const fromConfig = (entries: ReadonlyArray<readonly [string, string]>) =>
        Layer.build(Geo.layerConfig).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(entries))))
      const bad = (yield* Effect.flip(fromConfig([["GEO_BASE_URL", "eutils.local"]]))) as InvalidConfig
      assert.strictEqual(
        bad.message,
        `GEO source: invalid GEO_BASE_URL = "eutils.local": ${"must be an absolute http(s) URL without query or fragment"}`
      )
      const retries = (yield* Effect.flip(fromConfig([["GEO_MAX_RETRIES", "50"]]))) as InvalidConfig
      assert.strictEqual(retries.field, "GEO_MAX_RETRIES")
      assert.strictEqual(retries.value, "50")

      // A working configuration, through the service tag.
      const server = yield* EutilsServer.make(series)
      const context = yield* fromConfig([
        ["GEO_BASE_URL", `${server.url}/`],
        ["GEO_EMAIL", "ops@example.org"],
        ["GEO_API_KEY", "from-env"],
        ["GEO_TOOL", "archive"],
        ["GEO_TERM", "GSE[ETYP] AND human[ORGN]"]
      ])
      const page = yield* Effect.flatMap(Geo.GeoSource, (source) => source.fetchPage({ since, offset: 0, count: 2 }))
        .pipe(Effect.provide(context))
      assert.deepStrictEqual(page, { records: matching.slice(0, 2), total: 23 })
      const [search] = yield* server.requests
      assert.deepInclude(search!.query, {
        email: "ops@example.org",
        api_key: "from-env",
        tool: "archive",
        term: "GSE[ETYP] AND human[ORGN]"
      })
    })))
})
