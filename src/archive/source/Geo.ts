/**
 * The GEO source: series (`GSE…`) from NCBI's Gene Expression Omnibus, read through the
 * E-utilities JSON API with `@effect/platform`'s `HttpClient`.
 *
 * One page is one `esearch` (with history, date-bounded on the publication date) that
 * gives the total and the page's ids, then `esummary` over the same history set in
 * batches of at most {@link summaryBatchSize}. Only series are kept (`entrytype` `GSE`),
 * so a page can hold fewer records than it asked for while more follow: callers advance
 * by the page size, not by the number of records returned.
 *
 * A page is all or nothing: any request that finally fails fails the page, and no
 * records are returned with an error.
 *
 * Every request carries `email`, `tool` and, when configured, `api_key`; requests are
 * spaced to NCBI's rate limit (3 per second, 10 with an API key). The API key never
 * appears in an error, a log line or a span: the client's own HTTP span (which records
 * the full URL) is turned off and replaced by one with the URL minus `api_key`.
 *
 * What is retried, in place, with jittered exponential backoff (`retryBaseDelay`,
 * doubled each time, capped at `retryMaxDelay`), at most `maxRetries` times, waiting at
 * least as long as a `Retry-After` header asks (seconds or an HTTP date):
 * - 429 and 5xx answers, connection failures, no answer within `requestTimeout`;
 * - a body that is not JSON at all: a truncated body (a flaky proxy, a connection cut
 *   mid-body) or an HTML error page. The next attempt is likely to get the whole body;
 * - an error NCBI reports inside a 200 answer (`esummaryresult: ["NCBI C++ Exception…"]`,
 *   a top-level `error`, `esearchresult.ERROR`): these are NCBI's own transient faults.
 *
 * When retries run out the page fails with `SourceError` `retryable: true`, naming the
 * URL (without `api_key`), the number of attempts and the last status or failure. A
 * `Retry-After` longer than `retryMaxDelay` is not waited out in place: the page fails at
 * once, retryable, and the pipeline's own retry schedule comes back later.
 *
 * What is not retried, `SourceError` `retryable: false`:
 * - any other 4xx (a bad request or a bad API key does not get better by asking again);
 * - valid JSON of the wrong shape: upstream changed its format (or we misread it), and
 *   asking again returns the same body. Failing loudly at once, with the schema error,
 *   beats retrying a page that can never decode;
 * - a page request that is itself invalid (`since` not a day, negative offset, …).
 *
 * Records NCBI reports as unavailable (an `esummary` entry with only `error`, e.g. a
 * withdrawn series) are skipped and logged, so one of them cannot block its page forever.
 *
 * @example
 * ```ts
 * const Sources = Geo.layerConfig.pipe(Layer.provide(NodeHttpClient.layerUndici))
 * const page = Effect.flatMap(Geo.GeoSource, (geo) => geo.fetchPage({ since: "2024-01-01", offset: 0, count: 100 }))
 * ```
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type { ConfigError } from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { InvalidConfig } from "../../runtime/Errors.js"
import { type Page, type PageRequest, type Source, SourceError } from "./Source.js"
import { UpstreamRecord } from "./UpstreamRecord.js"

/** Options of the GEO source; every field has a default. */
export interface Options {
  /** E-utilities base URL (no trailing `/…fcgi`). Default NCBI's. */
  readonly baseUrl?: string | undefined
  /** Contact address NCBI asks every client to send (`email`). Default none. */
  readonly email?: string | undefined
  /** NCBI API key (`api_key`): raises the rate limit from 3 to 10 requests/s. Default none. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Client name sent as `tool` (no spaces). Default `sluice`. */
  readonly tool?: string | undefined
  /** The `esearch` term. Default `GSE[ETYP]` (all series). */
  readonly term?: string | undefined
  /** Retries per request after the first attempt. Default 5. */
  readonly maxRetries?: number | undefined
  /** First backoff delay; doubles on each retry, with jitter. Default 1 second. */
  readonly retryBaseDelay?: Duration.DurationInput | undefined
  /** Longest backoff; a longer `Retry-After` fails the page (retryable) instead. Default 1 minute. */
  readonly retryMaxDelay?: Duration.DurationInput | undefined
  /** How long one request (answer and body) may take. Default 30 seconds. */
  readonly requestTimeout?: Duration.DurationInput | undefined
  /**
   * Requests per second, spaced evenly. Default NCBI's limit: 3, or 10 with an API key.
   * `Infinity` turns the limiter off (a local mirror, tests).
   */
  readonly requestsPerSecond?: number | undefined
}

/** The validated settings. */
export interface Settings {
  readonly baseUrl: string
  readonly email: string | undefined
  readonly apiKey: Redacted.Redacted<string> | undefined
  readonly tool: string
  readonly term: string
  readonly maxRetries: number
  readonly retryBaseDelay: Duration.Duration
  readonly retryMaxDelay: Duration.Duration
  readonly requestTimeout: Duration.Duration
  readonly requestsPerSecond: number
}

export const defaults = {
  baseUrl: "https://eutils.ncbi.nlm.nih.gov/entrez/eutils",
  tool: "sluice",
  term: "GSE[ETYP]",
  maxRetries: 5,
  retryBaseDelay: Duration.seconds(1),
  retryMaxDelay: Duration.minutes(1),
  requestTimeout: Duration.seconds(30),
  requestsPerSecond: 3,
  requestsPerSecondWithApiKey: 10
} as const

/** The most ids one `esummary` request asks for. */
export const summaryBatchSize = 100

/** The most ids NCBI's `esearch` returns at once, so the largest page. */
export const maxPageSize = 10_000

/** The GEO source as a service. */
export class GeoSource extends Context.Tag("archive/GeoSource")<GeoSource, Source>() {}

// Options

const subject = "GEO source"

const showValue = (value: unknown): string =>
  typeof value === "string"
    ? JSON.stringify(value)
    : Duration.isDuration(value)
    ? Duration.format(value)
    : String(value)

const check = <A, I>(field: string, schema: Schema.Schema<A, I>, value: unknown, rule: string) =>
  Either.match(Schema.decodeUnknownEither(schema)(value), {
    onLeft: () => Effect.fail(new InvalidConfig({ subject, field, value: showValue(value), rule })),
    onRight: Effect.succeed
  })

const isHttpUrl = (value: string) => {
  try {
    const url = new URL(value)
    return (url.protocol === "http:" || url.protocol === "https:") && url.search === "" && url.hash === ""
  } catch {
    return false
  }
}

const HttpUrl = Schema.String.pipe(Schema.filter(isHttpUrl))
const Email = Schema.String.pipe(Schema.pattern(/^[^\s@]+@[^\s@]+$/))
const Word = Schema.String.pipe(Schema.pattern(/^\S{1,100}$/))
const Term = Schema.String.pipe(Schema.filter((term) => term.trim() !== ""))
const Retries = Schema.Int.pipe(Schema.between(0, 20))
const Rate = Schema.Number.pipe(Schema.filter((n) => n > 0 && !Number.isNaN(n)))
const PositiveDuration = Schema.DurationFromSelf.pipe(
  Schema.filter((d) => Duration.isFinite(d) && Duration.toMillis(d) > 0)
)

const duration = (field: string, value: Duration.DurationInput | undefined, fallback: Duration.Duration) =>
  value === undefined ? Effect.succeed(fallback) : check(
    field,
    PositiveDuration,
    Option.getOrElse(Duration.decodeUnknown(value), () => value),
    "must be a positive, finite duration"
  )

const nonEmpty = (value: string | undefined) => value === undefined || value === "" ? undefined : value

/**
 * Validates options into settings. A bad value fails with `InvalidConfig` naming the
 * field, the value and the rule (never the API key's value).
 */
export const resolve = (options: Options = {}): Effect.Effect<Settings, InvalidConfig> =>
  Effect.gen(function*() {
    const baseUrl = yield* check(
      "baseUrl",
      HttpUrl,
      options.baseUrl ?? defaults.baseUrl,
      "must be an absolute http(s) URL without query or fragment"
    )
    const emailOption = nonEmpty(options.email)
    const email = emailOption === undefined
      ? undefined
      : yield* check("email", Email, emailOption, "must be an e-mail address")
    const apiKey = options.apiKey !== undefined && Redacted.value(options.apiKey) !== "" ? options.apiKey : undefined
    if (apiKey !== undefined && !/^\S+$/.test(Redacted.value(apiKey))) {
      return yield* new InvalidConfig({ subject, field: "apiKey", value: "<redacted>", rule: "must contain no spaces" })
    }
    const tool = yield* check("tool", Word, options.tool ?? defaults.tool, "must be 1 to 100 characters, no spaces")
    const term = yield* check("term", Term, options.term ?? defaults.term, "must not be empty")
    const maxRetries = yield* check(
      "maxRetries",
      Retries,
      options.maxRetries ?? defaults.maxRetries,
      "must be an integer from 0 to 20"
    )
    const retryBaseDelay = yield* duration("retryBaseDelay", options.retryBaseDelay, defaults.retryBaseDelay)
    const retryMaxDelay = yield* duration("retryMaxDelay", options.retryMaxDelay, defaults.retryMaxDelay)
    if (Duration.lessThan(retryMaxDelay, retryBaseDelay)) {
      return yield* new InvalidConfig({
        subject,
        field: "retryMaxDelay",
        value: Duration.format(retryMaxDelay),
        rule: `must be at least retryBaseDelay (${Duration.format(retryBaseDelay)})`
      })
    }
    const requestTimeout = yield* duration("requestTimeout", options.requestTimeout, defaults.requestTimeout)
    const requestsPerSecond = yield* check(
      "requestsPerSecond",
      Rate,
      options.requestsPerSecond ??
        (apiKey === undefined ? defaults.requestsPerSecond : defaults.requestsPerSecondWithApiKey),
      "must be a positive number (Infinity: no limit)"
    )
    return {
      baseUrl: baseUrl.replace(/\/+$/, ""),
      email,
      apiKey,
      tool,
      term,
      maxRetries,
      retryBaseDelay,
      retryMaxDelay,
      requestTimeout,
      requestsPerSecond
    }
  })

// Requests

/** Why one attempt failed; `retryable` decides whether the schedule tries again. */
class AttemptFailed extends Data.TaggedError("AttemptFailed")<{
  readonly retryable: boolean
  readonly detail: string
  readonly retryAfter: Duration.Duration | undefined
}> {}

const transient = (detail: string, retryAfter?: Duration.Duration) =>
  new AttemptFailed({ retryable: true, detail, retryAfter })
const permanent = (detail: string) => new AttemptFailed({ retryable: false, detail, retryAfter: undefined })

/** `Retry-After`: delay-seconds or an HTTP date, measured against Effect's `Clock`. */
const parseRetryAfter = (value: string | undefined, now: number): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Duration.seconds(Number(trimmed))
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? undefined : Duration.millis(Math.max(0, at - now))
}

/** NCBI's errors inside a 200 answer. */
const inBandError = (body: unknown): string | undefined => {
  if (typeof body !== "object" || body === null) return undefined
  const record = body as Record<string, unknown>
  if (typeof record.error === "string") return record.error
  const summary = record.esummaryresult
  if (Array.isArray(summary) && summary.some((item) => typeof item === "string")) return summary.join("; ")
  const search = record.esearchresult
  if (typeof search === "object" && search !== null) {
    const error = (search as Record<string, unknown>).ERROR
    if (typeof error === "string") return error
  }
  return undefined
}

const clip = (text: string, max = 300) => text.length > max ? `${text.slice(0, max)}…` : text

/**
 * Requests spaced at least `1 / rate` apart: one caller at a time waits for the next free
 * instant on Effect's `Clock`; the next one is measured from when this one really left,
 * so a late timer cannot let two requests out together.
 */
const makeLimiter = (requestsPerSecond: number): Effect.Effect<Effect.Effect<void>> => {
  if (!Number.isFinite(requestsPerSecond)) return Effect.succeed(Effect.void)
  const spacing = 1000 / requestsPerSecond
  return Effect.gen(function*() {
    const semaphore = yield* Effect.makeSemaphore(1)
    const next = yield* Ref.make(Number.NEGATIVE_INFINITY)
    return semaphore.withPermits(1)(Effect.gen(function*() {
      const wait = (yield* Ref.get(next)) - (yield* Clock.currentTimeMillis)
      if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
      yield* Ref.set(next, (yield* Clock.currentTimeMillis) + spacing)
    }))
  })
}

// Response shapes

const Count = Schema.Union(Schema.NumberFromString, Schema.Number).pipe(Schema.int(), Schema.nonNegative())

const ESearch = Schema.Struct({
  esearchresult: Schema.Struct({
    count: Count,
    webenv: Schema.optional(Schema.String),
    querykey: Schema.optional(Schema.String),
    idlist: Schema.Array(Schema.String)
  })
})

const ESummary = Schema.Struct({
  result: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})

const EntryType = Schema.Struct({ entrytype: Schema.String })
const Unavailable = Schema.Struct({ error: Schema.String })

const Summary = Schema.Struct({
  accession: Schema.String,
  title: Schema.String,
  summary: Schema.String,
  taxon: Schema.String,
  gpl: Schema.String,
  n_samples: Count,
  pdat: Schema.String,
  gdstype: Schema.String,
  entrytype: Schema.String
})

/** `gpl` holds bare numbers, `;`-separated (`"13112;17021"`): give them their `GPL` prefix. */
const platforms = (gpl: string) =>
  gpl.split(";").map((part) => part.trim()).filter((part) => part !== "")
    .map((part) => /^GPL/i.test(part) ? part.toUpperCase() : `GPL${part}`).join("; ")

const toRecord = (summary: typeof Summary.Type) =>
  new UpstreamRecord({
    accession: summary.accession,
    title: summary.title,
    summary: summary.summary,
    organism: summary.taxon,
    platform: platforms(summary.gpl),
    sampleCount: summary.n_samples,
    publicationDate: summary.pdat,
    type: summary.gdstype
  })

const day = /^(\d{4})[-/](\d{2})[-/](\d{2})$/

/**
 * Builds the GEO source. Fails with `InvalidConfig` for a bad option; needs an
 * `HttpClient` (e.g. `NodeHttpClient.layerUndici`).
 */
export const make = (options: Options = {}): Effect.Effect<Source, InvalidConfig, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const settings = yield* resolve(options)
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.withTracerDisabledWhen(() => true))
    const limit = yield* makeLimiter(settings.requestsPerSecond)
    const secret = settings.apiKey === undefined ? undefined : Redacted.value(settings.apiKey)
    /** Belt and braces: whatever text came from outside, the key never leaves in it. */
    const scrub = (text: string) => secret === undefined ? text : text.split(secret).join("<api_key>")

    const identity: ReadonlyArray<[string, string]> = [
      ...(settings.email === undefined ? [] : [["email", settings.email] as [string, string]]),
      ["tool", settings.tool]
    ]
    const credentials: ReadonlyArray<[string, string]> = secret === undefined ? [] : [["api_key", secret]]

    const retryBackoff = Schedule.exponential(settings.retryBaseDelay).pipe(
      Schedule.jittered,
      Schedule.modifyDelay((_, delay) => Duration.min(delay, settings.retryMaxDelay)),
      Schedule.intersect(Schedule.recurs(settings.maxRetries))
    )
    const retryPolicy = Schedule.identity<AttemptFailed>().pipe(
      Schedule.intersect(retryBackoff),
      Schedule.whileInput((failure: AttemptFailed) =>
        failure.retryable &&
        (failure.retryAfter === undefined || Duration.lessThanOrEqualTo(failure.retryAfter, settings.retryMaxDelay))
      ),
      Schedule.modifyDelay(([failure], delay) =>
        failure.retryAfter === undefined ? delay : Duration.max(delay, failure.retryAfter)
      )
    )

    const readJson = Effect.fnUntraced(function*(response: HttpClientResponse.HttpClientResponse) {
      if (response.status === 429 || response.status >= 500) {
        const now = yield* Clock.currentTimeMillis
        const retryAfter = parseRetryAfter(response.headers["retry-after"], now)
        yield* Effect.ignore(response.text)
        return yield* transient(
          `status ${response.status}${retryAfter === undefined ? "" : ` (Retry-After ${Duration.format(retryAfter)})`}`,
          retryAfter
        )
      }
      if (response.status < 200 || response.status >= 300) {
        yield* Effect.ignore(response.text)
        return yield* permanent(`status ${response.status}`)
      }
      const text = yield* response.text
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch {
        return yield* transient(
          `status ${response.status} with a body that is not JSON (truncated?): ${
            JSON.stringify(clip(scrub(text), 80))
          }`
        )
      }
      const error = inBandError(body)
      if (error !== undefined) {
        return yield* transient(`NCBI reported an error: ${JSON.stringify(clip(scrub(error)))}`)
      }
      return body
    })

    const fromClientError = (error: HttpClientError.HttpClientError) =>
      error._tag === "RequestError"
        ? error.reason === "Transport"
          ? transient(`connection failed: ${scrub(String(error.cause ?? error.description ?? error.reason))}`)
          : permanent(`request could not be sent (${error.reason})`)
        : transient(
          `reading the answer failed (status ${error.response.status}): ${
            scrub(String(error.cause ?? error.description ?? error.reason))
          }`
        )

    /** One E-utilities call, retried as the module header says; returns the decoded body. */
    const call = <A, I>(
      endpoint: "esearch" | "esummary",
      params: ReadonlyArray<[string, string]>,
      schema: Schema.Schema<A, I>
    ): Effect.Effect<A, SourceError> =>
      Effect.gen(function*() {
        const url = `${settings.baseUrl}/${endpoint}.fcgi`
        const shown = `${url}?${new URLSearchParams([...params, ...identity]).toString()}`
        const request = HttpClientRequest.get(url).pipe(
          HttpClientRequest.setUrlParams([...params, ...identity, ...credentials]),
          HttpClientRequest.acceptJson
        )
        const attempts = yield* Ref.make(0)
        const attempt = Ref.updateAndGet(attempts, (n) => n + 1).pipe(
          Effect.zipLeft(limit),
          Effect.flatMap((n) =>
            client.execute(request).pipe(
              Effect.flatMap(readJson),
              Effect.catchTags({ RequestError: fromClientError, ResponseError: fromClientError }),
              Effect.timeoutFail({
                duration: settings.requestTimeout,
                onTimeout: () => transient(`no answer within ${Duration.format(settings.requestTimeout)}`)
              }),
              Effect.tapError((failure) =>
                Effect.logDebug("GEO request attempt failed").pipe(
                  Effect.annotateLogs({ url: shown, attempt: n, detail: failure.detail })
                )
              )
            )
          )
        )
        const body = yield* attempt.pipe(
          Effect.retry(retryPolicy),
          Effect.catchAll((failure) =>
            Effect.flatMap(Ref.get(attempts), (n) => {
              const tooLong = failure.retryAfter !== undefined &&
                Duration.greaterThan(failure.retryAfter, settings.retryMaxDelay)
              const message = !failure.retryable
                ? `GEO ${endpoint} failed: GET ${shown}: ${failure.detail}`
                : tooLong
                ? `GEO ${endpoint} failed: GET ${shown}: ${failure.detail}, longer than retryMaxDelay (${
                  Duration.format(settings.retryMaxDelay)
                }): try again later`
                : `GEO ${endpoint} failed after ${n} attempt${n === 1 ? "" : "s"}: GET ${shown}: last ${failure.detail}`
              return new SourceError({ source: "geo", message: scrub(message), retryable: failure.retryable })
            })
          ),
          Effect.withSpan(`Geo.${endpoint}`, { kind: "client", attributes: { "url.full": shown } })
        )
        return yield* Schema.decodeUnknown(schema)(body).pipe(
          Effect.mapError((error) =>
            new SourceError({
              source: "geo",
              message: scrub(
                `GEO ${endpoint} answered with an unexpected shape: GET ${shown}: ${
                  clip(ParseResult.TreeFormatter.formatErrorSync(error), 500)
                }`
              ),
              retryable: false
            })
          )
        )
      })

    const invalidRequest = (request: PageRequest, rule: string) =>
      new SourceError({
        source: "geo",
        message: `GEO: invalid page request ${JSON.stringify(request)}: ${rule}`,
        retryable: false
      })

    const fetchPage = Effect.fn("Geo.fetchPage")(function*(request: PageRequest) {
      yield* Effect.annotateCurrentSpan({ since: request.since, offset: request.offset, count: request.count })
      const since = day.exec(request.since)
      if (since === null) return yield* invalidRequest(request, "since must be a day, YYYY-MM-DD")
      if (!Number.isSafeInteger(request.offset) || request.offset < 0) {
        return yield* invalidRequest(request, "offset must be an integer ≥ 0")
      }
      if (!Number.isSafeInteger(request.count) || request.count < 0 || request.count > maxPageSize) {
        return yield* invalidRequest(request, `count must be an integer from 0 to ${maxPageSize}`)
      }
      const search = yield* call("esearch", [
        ["db", "gds"],
        ["term", settings.term],
        ["datetype", "pdat"],
        ["mindate", `${since[1]}/${since[2]}/${since[3]}`],
        ["maxdate", "3000"],
        ["usehistory", "y"],
        ["retmode", "json"],
        ["retstart", String(request.offset)],
        ["retmax", String(request.count)]
      ], ESearch)
      const { count: total, idlist, querykey, webenv } = search.esearchresult
      const expected = Math.min(request.count, Math.max(0, total - request.offset))
      if (idlist.length < expected) {
        return yield* new SourceError({
          source: "geo",
          message: `GEO esearch returned ${idlist.length} ids where ${expected} were expected ` +
            `(total ${total}, offset ${request.offset}, count ${request.count})`,
          retryable: true
        })
      }
      const ids = idlist.slice(0, request.count)
      if (ids.length === 0) return { records: [], total } satisfies Page
      if (webenv === undefined || querykey === undefined) {
        return yield* new SourceError({
          source: "geo",
          message: "GEO esearch answered with an unexpected shape: ids but no webenv/querykey (history)",
          retryable: false
        })
      }

      const records: Array<UpstreamRecord> = []
      for (let start = 0; start < ids.length; start += summaryBatchSize) {
        const batch = ids.slice(start, start + summaryBatchSize)
        const { result } = yield* call("esummary", [
          ["db", "gds"],
          ["query_key", querykey],
          ["WebEnv", webenv],
          ["retstart", String(request.offset + start)],
          ["retmax", String(batch.length)],
          ["retmode", "json"]
        ], ESummary)
        for (const uid of batch) {
          const entry = result[uid]
          if (entry === undefined) {
            return yield* new SourceError({
              source: "geo",
              message: `GEO esummary did not return uid ${uid} (batch from ${request.offset + start}, ` +
                `${batch.length} ids): the history set may have expired`,
              retryable: true
            })
          }
          const type = Schema.decodeUnknownOption(EntryType)(entry)
          if (Option.isNone(type)) {
            const unavailable = Schema.decodeUnknownOption(Unavailable)(entry)
            if (Option.isSome(unavailable)) {
              yield* Effect.logWarning("GEO esummary: record unavailable, skipped").pipe(
                Effect.annotateLogs({ uid, error: clip(unavailable.value.error) })
              )
              continue
            }
          } else if (type.value.entrytype !== "GSE") {
            continue
          }
          const summary = yield* Schema.decodeUnknown(Summary)(entry).pipe(
            Effect.mapError((error) =>
              new SourceError({
                source: "geo",
                message: `GEO esummary: uid ${uid} has an unexpected shape: ${
                  clip(ParseResult.TreeFormatter.formatErrorSync(error), 500)
                }`,
                retryable: false
              })
            )
          )
          records.push(toRecord(summary))
        }
      }
      return { records, total } satisfies Page
    })

    return { name: "geo", fetchPage } satisfies Source
  })

/** The GEO source from explicit options. */
export const layer = (options: Options = {}): Layer.Layer<GeoSource, InvalidConfig, HttpClient.HttpClient> =>
  Layer.effect(GeoSource, make(options))

/** Where {@link config} reads each option. */
export const configNames = {
  baseUrl: "GEO_BASE_URL",
  email: "GEO_EMAIL",
  apiKey: "GEO_API_KEY",
  tool: "GEO_TOOL",
  term: "GEO_TERM",
  maxRetries: "GEO_MAX_RETRIES"
} as const

/**
 * The options read from configuration: `GEO_BASE_URL`, `GEO_EMAIL`, `GEO_API_KEY`
 * (redacted), `GEO_TOOL`, `GEO_TERM`, `GEO_MAX_RETRIES`. The other options keep their
 * defaults.
 */
export const config: Config.Config<Options> = Config.all({
  baseUrl: Config.string(configNames.baseUrl).pipe(
    Config.withDefault(defaults.baseUrl),
    Config.withDescription("NCBI E-utilities base URL")
  ),
  email: Config.string(configNames.email).pipe(
    Config.withDefault(""),
    Config.withDescription("contact e-mail sent to NCBI with every request (empty: none)")
  ),
  apiKey: Config.redacted(configNames.apiKey).pipe(
    Config.option,
    Config.map(Option.getOrUndefined),
    Config.withDescription("NCBI API key (optional; 10 instead of 3 requests per second)")
  ),
  tool: Config.string(configNames.tool).pipe(
    Config.withDefault(defaults.tool),
    Config.withDescription("client name sent to NCBI as `tool`")
  ),
  term: Config.string(configNames.term).pipe(
    Config.withDefault(defaults.term),
    Config.withDescription("esearch term selecting the GEO entries to pull")
  ),
  maxRetries: Config.integer(configNames.maxRetries).pipe(
    Config.withDefault(defaults.maxRetries),
    Config.withDescription("retries per E-utilities request on 429, 5xx and connection errors")
  )
})

/**
 * The GEO source from configuration. A bad value fails naming its variable
 * (`GEO_BASE_URL`, …), the value and the rule.
 */
export const layerConfig: Layer.Layer<GeoSource, InvalidConfig | ConfigError, HttpClient.HttpClient> = Layer.effect(
  GeoSource,
  Effect.flatMap(config, (options) =>
    make(options).pipe(
      Effect.mapError((error) =>
        error.field in configNames
          ? new InvalidConfig({
            subject: error.subject,
            field: configNames[error.field as keyof typeof configNames],
            value: error.value,
            rule: error.rule
          })
          : error
      )
    ))
)
