/**
 * The archive's HTTP API, as an `@effect/platform` `HttpApi`: search, records,
 * depositions (manual submission and curation), the event changefeed, the pipeline's
 * state, and health. The definition is the contract: handlers (`Handlers.ts`), the
 * OpenAPI document and typed clients (`HttpApiClient.make(Api)`) all come from it.
 *
 * Errors have one shape per status:
 * - 400 `HttpApiDecodeError`: `{ _tag, message, issues: [{ _tag, path, message }] }`; `path`
 *   names the field (`["q"]`, `["srn"]`, `["title"]`, …), also for the checks the handlers
 *   make themselves (a query the search backend rejects, a body that is not JSON).
 * - 404 {@link NotFound}, 409 {@link Conflict}, 503 {@link NotReady}, 500 {@link ServerError}.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { limits } from "../archive/search/Search.js"
import * as Srn from "../archive/Srn.js"

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** 404: the record, deposition or search index does not exist. `known` lists the indexes there are. */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  resource: Schema.Literal("record", "deposition", "index"),
  id: Schema.String,
  message: Schema.String,
  known: Schema.optional(Schema.Array(Schema.String))
}, HttpApiSchema.annotations({ status: 404, description: "No such record, deposition or index" })) {}

/** 409: the deposition is not awaiting curation (already decided, or rejected by validation). */
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", {
  deposition: Schema.String,
  state: Schema.String,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 409, description: "The deposition is not awaiting curation" })) {}

/** 503: the database does not answer. */
export class NotReady extends Schema.TaggedError<NotReady>()("NotReady", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 503, description: "The database is not reachable" })) {}

/** 500: the server failed (the log has the cause); `message` says what it was doing. */
export class ServerError extends Schema.TaggedError<ServerError>()("ServerError", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 500, description: "The server failed; the log has the details" })) {}

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

const describeParseError = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`)
    .join("; ")

/**
 * An SRN path parameter of one type: the parse error (which part is wrong, and why) is
 * the 400's message. Decodes to the checked {@link Srn.SrnString}.
 */
const srnParameter = (type: Srn.SrnType, what: string, example: string) =>
  Schema.String.pipe(
    Schema.filter((text) => {
      const parsed = Srn.parse(text)
      if (Either.isLeft(parsed)) return `not a valid SRN: ${describeParseError(parsed.left)}`
      if (parsed.right.type !== type) {
        return `expected ${what} SRN (type ${type}), got one of type ${parsed.right.type}`
      }
      return true
    }),
    Schema.brand("Srn", {
      jsonSchema: {},
      description: `${what} SRN, urn:osa:{domain}:${type}:{id}${type === "rec" ? "@{version}" : ""}`,
      examples: [example as Srn.SrnString]
    })
  )

/** A record SRN (`urn:osa:{domain}:rec:{id}@{version}`). */
export const RecordSrn = srnParameter("rec", "a record", "urn:osa:osa.example.org:rec:sample-gse100001@1")

/** A deposition SRN (`urn:osa:{domain}:dep:{id}`). */
export const DepositionSrn = srnParameter("dep", "a deposition", "urn:osa:osa.example.org:dep:sample-gse100001")

/** An integer in `[min, max]` given as a decimal string (query parameters are strings). */
const integerParameter = (min: number, max: number) =>
  Schema.NumberFromString.pipe(
    Schema.filter(
      (n) => (Number.isInteger(n) && n >= min && n <= max) || `must be an integer from ${min} to ${max}`,
      { jsonSchema: { type: "integer", minimum: min, maximum: max } }
    )
  )

/** A changefeed position: after the event `id` written by transaction `tx`. */
export interface Cursor {
  readonly tx: string
  readonly id: string
}

const uint64Max = 18446744073709551615n
const int8Max = 9223372036854775807n

/**
 * The changefeed cursor as it travels: the opaque string `"<tx>-<id>"` (decimal numbers).
 * `"0-0"` is the start. Clients keep and return `next`, never build one.
 */
export const CursorString: Schema.Schema<Cursor, string> = Schema.transformOrFail(
  Schema.String,
  Schema.Struct({ tx: Schema.String, id: Schema.String }),
  {
    strict: true,
    decode: (text, _, ast) => {
      const match = /^(\d{1,20})-(\d{1,19})$/.exec(text)
      if (match === null || BigInt(match[1]!) > uint64Max || BigInt(match[2]!) > int8Max) {
        return ParseResult.fail(
          new ParseResult.Type(ast, text, `not a changefeed cursor: pass the "next" of a previous page`)
        )
      }
      return ParseResult.succeed({ tx: BigInt(match[1]!).toString(), id: BigInt(match[2]!).toString() })
    },
    encode: (cursor) => ParseResult.succeed(`${cursor.tx}-${cursor.id}`)
  }
).annotations({ identifier: "Cursor", description: "opaque changefeed position, the `next` of a previous page" })

/** The start of the changefeed. */
export const start: Cursor = { tx: "0", id: "0" }

/** Event types, comma-separated in the query string. */
const TypeList = Schema.transformOrFail(Schema.String, Schema.Array(Schema.String), {
  strict: true,
  decode: (text, _, ast) => {
    const types = text.split(",").map((type) => type.trim()).filter((type) => type.length > 0)
    return types.length === 0
      ? ParseResult.fail(
        new ParseResult.Type(ast, text, "must name at least one event type, e.g. archive.RecordPublished")
      )
      : ParseResult.succeed(types)
  },
  encode: (types) => ParseResult.succeed(types.join(","))
}).annotations({ description: "event types, comma-separated, e.g. archive.RecordPublished,archive.IndexRecord" })

/** Search query parameters. */
export const SearchParams = Schema.Struct({
  q: Schema.String.pipe(
    Schema.filter((q) => q.trim().length > 0 || "must not be empty", {
      jsonSchema: { minLength: 1 },
      description: "the query text"
    })
  ),
  limit: Schema.optionalWith(integerParameter(1, limits.maxLimit), { exact: true, default: () => 10 })
    .annotations({
      description: `results per page, 1 to ${limits.maxLimit} (default 10)`
    }),
  offset: Schema.optionalWith(integerParameter(0, limits.maxOffset), { exact: true, default: () => 0 })
    .annotations({
      description: `results to skip, 0 to ${limits.maxOffset} (default 0)`
    })
})

/** Changefeed query parameters. */
export const EventsParams = Schema.Struct({
  after: Schema.optionalWith(CursorString, { exact: true }),
  limit: Schema.optionalWith(integerParameter(1, 1000), { exact: true, default: () => 100 }).annotations({
    description: "events per page, 1 to 1000 (default 100)"
  }),
  types: Schema.optionalWith(TypeList, { exact: true })
})

// ---------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------

/** A hand-made submission: the fields of an upstream record (GEO series summary shape). */
export const Submission = Schema.Struct({
  accession: Schema.String.pipe(
    Schema.filter((text) => text.trim().length > 0 || "must not be empty", {
      jsonSchema: { minLength: 1 },
      description: "the upstream accession, e.g. GSE123456 (surrounding blanks are dropped)"
    })
  ),
  title: Schema.String,
  summary: Schema.String,
  organism: Schema.String.annotations({ description: "scientific name(s), `; `-separated, e.g. Homo sapiens" }),
  platform: Schema.String.annotations({ description: "platform accession(s), e.g. GPL24676" }),
  sampleCount: Schema.Number,
  publicationDate: Schema.String.annotations({ description: "YYYY/MM/DD" }),
  type: Schema.String.annotations({ description: "series type, e.g. Expression profiling by array" })
}).annotations({ identifier: "Submission" })

/** The answer to a submission: where to follow it. */
export const Submitted = Schema.Struct({
  deposition: Schema.String.annotations({ description: "the deposition's SRN (GET /api/v1/depositions/{srn})" }),
  source: Schema.String,
  upstreamId: Schema.String
}).annotations({ identifier: "Submitted" })

/** A curator's decision. */
export const Decision = Schema.Struct({
  curator: Schema.String.pipe(
    Schema.filter((text) => (text.trim().length > 0 && text.length <= 200) || "must be 1 to 200 characters", {
      jsonSchema: { minLength: 1, maxLength: 200 },
      description: "who decides, e.g. a curator's user name"
    })
  )
}).annotations({ identifier: "Decision" })

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

const Metadata = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** One search hit. */
export const SearchResult = Schema.Struct({
  srn: Schema.String,
  score: Schema.Number,
  title: Schema.String
}).annotations({ identifier: "SearchResult" })

/** A page of search results; `total` counts every match. */
export const SearchResults = Schema.Struct({
  query: Schema.String,
  index: Schema.String,
  total: Schema.Int,
  limit: Schema.Int,
  offset: Schema.Int,
  results: Schema.Array(SearchResult)
}).annotations({ identifier: "SearchResults" })

/** A configured index backend. */
export const IndexInfo = Schema.Struct({
  name: Schema.String,
  kind: Schema.Literal("keyword", "vector")
}).annotations({ identifier: "IndexInfo" })

/** A published record. */
export const RecordView = Schema.Struct({
  srn: Schema.String,
  version: Schema.Int,
  title: Schema.String,
  source: Schema.String,
  upstreamId: Schema.String,
  metadata: Metadata,
  publishedAt: Schema.Date,
  deposition: Schema.String
}).annotations({ identifier: "Record" })

/** One validation rule's outcome. */
export const RuleResult = Schema.Struct({
  rule: Schema.String,
  passed: Schema.Boolean,
  message: Schema.String
}).annotations({ identifier: "RuleResult" })

/** The life of a deposition. */
export const DepositionState = Schema.Literal("submitted", "rejected", "awaiting_curation", "approved", "published")

/** A deposition: its state, validation, curation, and record once published. */
export const DepositionView = Schema.Struct({
  srn: Schema.String,
  state: DepositionState,
  source: Schema.String,
  upstreamId: Schema.String,
  validation: Schema.NullOr(Schema.Struct({
    status: Schema.Literal("passed", "failed"),
    results: Schema.Array(RuleResult)
  })),
  curatedBy: Schema.NullOr(Schema.String),
  record: Schema.NullOr(Schema.String).annotations({ description: "the record's SRN, once published" }),
  submittedAt: Schema.Date,
  updatedAt: Schema.Date,
  upstream: Metadata.annotations({ description: "the upstream record as submitted" })
}).annotations({ identifier: "Deposition" })

/** One event of the log. */
export const ChangeEvent = Schema.Struct({
  id: Schema.String,
  type: Schema.String,
  routingKey: Schema.NullOr(Schema.String),
  payload: Schema.Unknown,
  metadata: Metadata,
  createdAt: Schema.Date
}).annotations({ identifier: "ChangeEvent" })

/** A page of the changefeed; `next` is the cursor to pass as `after` (the same one when the page is empty). */
export const Changes = Schema.Struct({
  events: Schema.Array(ChangeEvent),
  next: CursorString
}).annotations({ identifier: "Changes" })

/** One consumer group's queue. */
export const GroupState = Schema.Struct({
  group: Schema.String,
  pending: Schema.Int,
  due: Schema.Int,
  claimed: Schema.Int,
  failed: Schema.Int,
  delivered: Schema.Int,
  skipped: Schema.Int,
  oldestPendingAgeSeconds: Schema.NullOr(Schema.Number).annotations({
    description: "seconds since the oldest pending delivery became due; null when nothing is pending"
  }),
  throughputPerSecond: Schema.Number.annotations({
    description: "deliveries settled (delivered or skipped) per second over the last minute"
  })
}).annotations({ identifier: "GroupState" })

/** The archive's counts. */
export const ArchiveProgress = Schema.Struct({
  pulled: Schema.Int,
  runsRunning: Schema.Int,
  runsCompleted: Schema.Int,
  depositions: Schema.Int,
  rejected: Schema.Int,
  awaitingCuration: Schema.Int,
  published: Schema.Int,
  indexed: Schema.Array(Schema.Struct({ backend: Schema.String, count: Schema.Int }))
}).annotations({ identifier: "ArchiveProgress" })

/** The pipeline's state. */
export const PipelineState = Schema.Struct({
  at: Schema.Date,
  groups: Schema.Array(GroupState),
  archive: ArchiveProgress
}).annotations({ identifier: "PipelineState" })

/** Liveness and readiness answers. */
export const Health = Schema.Struct({ status: Schema.Literal("ok", "ready") }).annotations({ identifier: "Health" })

// ---------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------

/** Search over the configured index backends. */
export class SearchGroup extends HttpApiGroup.make("search")
  .add(
    HttpApiEndpoint.get("search", "/search/:index")
      .setPath(Schema.Struct({ index: Schema.String.annotations({ description: "an index backend's name" }) }))
      .setUrlParams(SearchParams)
      .addSuccess(SearchResults)
      .addError(NotFound)
      .addError(ServerError)
      .annotate(OpenApi.Summary, "Search one index backend")
  )
  .add(
    HttpApiEndpoint.get("indexes", "/search")
      .addSuccess(Schema.Array(IndexInfo))
      .annotate(OpenApi.Summary, "The configured index backends")
  )
  .prefix("/api/v1")
{}

/** Published records. */
export class RecordsGroup extends HttpApiGroup.make("records")
  .add(
    HttpApiEndpoint.get("get", "/records/:srn")
      .setPath(Schema.Struct({ srn: RecordSrn }))
      .addSuccess(RecordView)
      .addError(NotFound)
      .addError(ServerError)
      .annotate(OpenApi.Summary, "A published record")
  )
  .prefix("/api/v1")
{}

/** Depositions: manual submission, state, manual curation. */
export class DepositionsGroup extends HttpApiGroup.make("depositions")
  .add(
    HttpApiEndpoint.post("submit", "/depositions")
      .setPayload(Submission)
      .addSuccess(Submitted, { status: 202 })
      .addError(ServerError)
      .annotate(OpenApi.Summary, "Submit a deposition by hand (source `manual`); it flows through the pipeline")
  )
  .add(
    HttpApiEndpoint.get("get", "/depositions/:srn")
      .setPath(Schema.Struct({ srn: DepositionSrn }))
      .addSuccess(DepositionView)
      .addError(NotFound)
      .addError(ServerError)
      .annotate(OpenApi.Summary, "A deposition's state, validation results and record")
  )
  .add(
    HttpApiEndpoint.post("approve", "/depositions/:srn/approve")
      .setPath(Schema.Struct({ srn: DepositionSrn }))
      .setPayload(Decision)
      .addSuccess(DepositionView)
      .addError(NotFound)
      .addError(Conflict)
      .addError(ServerError)
      .annotate(OpenApi.Summary, "Approve a deposition awaiting curation; the pipeline publishes its record")
  )
  .add(
    HttpApiEndpoint.post("reject", "/depositions/:srn/reject")
      .setPath(Schema.Struct({ srn: DepositionSrn }))
      .setPayload(Decision)
      .addSuccess(DepositionView)
      .addError(NotFound)
      .addError(Conflict)
      .addError(ServerError)
      .annotate(OpenApi.Summary, "Reject a deposition awaiting curation")
  )
  .prefix("/api/v1")
{}

/** The event log as a commit-safe changefeed. */
export class EventsGroup extends HttpApiGroup.make("events")
  .add(
    HttpApiEndpoint.get("changes", "/events")
      .setUrlParams(EventsParams)
      .addSuccess(Changes)
      .addError(ServerError)
      .annotate(
        OpenApi.Description,
        "Events in commit order. Start without `after`, then pass each page's `next`: an event that commits " +
          "late is never skipped."
      )
  )
  .prefix("/api/v1")
{}

/** The pipeline's own state. */
export class PipelineGroup extends HttpApiGroup.make("pipeline")
  .add(
    HttpApiEndpoint.get("state", "/pipeline")
      .addSuccess(PipelineState)
      .addError(ServerError)
      .annotate(OpenApi.Summary, "Queues per consumer group, throughput, and the archive's progress")
  )
  .prefix("/api/v1")
{}

/** Liveness and readiness. */
export class HealthGroup extends HttpApiGroup.make("health")
  .add(
    HttpApiEndpoint.get("health", "/health").addSuccess(Health).annotate(OpenApi.Summary, "The process is up")
  )
  .add(
    HttpApiEndpoint.get("ready", "/ready")
      .addSuccess(Health)
      .addError(NotReady)
      .annotate(OpenApi.Summary, "The database answers")
  )
{}

// ---------------------------------------------------------------------------
// Operations: the dashboard's live view and the dead letters (the CLI's Operations)
// ---------------------------------------------------------------------------

/** One consumer group, live: its queue, recent throughput and latency. */
export const GroupLive = Schema.Struct({
  group: Schema.String,
  pending: Schema.Int,
  due: Schema.Int,
  claimed: Schema.Int,
  failed: Schema.Int.annotations({ description: "dead letters" }),
  skipped: Schema.Int,
  deliveredLastHour: Schema.Int,
  oldestPendingAgeMs: Schema.NullOr(Schema.Number),
  throughputPerMinute: Schema.Number,
  p95LatencyMs: Schema.NullOr(Schema.Number).annotations({
    description: "95th percentile of the time from an event becoming due to its delivery, over the window"
  }),
  settledPerBucket: Schema.Array(Schema.Int).annotations({
    description: "deliveries settled per bucket over the window, oldest first (the sparkline)"
  })
}).annotations({ identifier: "GroupLive" })

/** Every consumer group, live. */
export const GroupsLive = Schema.Struct({
  at: Schema.Date,
  windowSeconds: Schema.Int,
  bucketSeconds: Schema.Int,
  groups: Schema.Array(GroupLive)
}).annotations({ identifier: "GroupsLive" })

/** The pipeline as a graph of event types and consumer groups, laid out in columns. */
export const TopologyView = Schema.Struct({
  nodes: Schema.Array(Schema.Struct({
    id: Schema.String,
    kind: Schema.Literal("type", "group"),
    name: Schema.String,
    column: Schema.Int
  })),
  edges: Schema.Array(
    Schema.Struct({ from: Schema.String, to: Schema.String, routingKey: Schema.NullOr(Schema.String) })
  )
}).annotations({ identifier: "Topology" })

/** A failed delivery (a dead letter). */
export const DeadLetterView = Schema.Struct({
  eventId: Schema.String,
  group: Schema.String,
  type: Schema.String,
  routingKey: Schema.NullOr(Schema.String),
  attempts: Schema.Int,
  lastError: Schema.NullOr(Schema.String),
  failedAt: Schema.Date,
  createdAt: Schema.Date
}).annotations({ identifier: "DeadLetter" })

/** A dead letter with its event's payload and metadata and every attempt's error. */
export const DeadLetterDetailView = Schema.Struct({
  ...DeadLetterView.fields,
  payload: Schema.Unknown,
  metadata: Metadata,
  errors: Schema.Array(Schema.Struct({ attempt: Schema.Int, error: Schema.String, at: Schema.Date }))
}).annotations({ identifier: "DeadLetterDetail" })

/** An event id path or body field: a positive integer as a string. */
const EventId = Schema.String.pipe(
  Schema.filter((text) => /^[1-9]\d{0,18}$/.test(text) || "must be an event id (a positive integer)", {
    jsonSchema: { pattern: "^[1-9][0-9]{0,18}$" }
  })
)

/** Dead letters to retry or skip. */
export const DeliveryRefs = Schema.Struct({
  deliveries: Schema.Array(Schema.Struct({ eventId: EventId, group: Schema.String })).pipe(
    Schema.minItems(1),
    Schema.maxItems(1000)
  )
}).annotations({ identifier: "DeliveryRefs" })

/** How many deliveries an operation changed. */
export const Changed = Schema.Struct({ count: Schema.Int }).annotations({ identifier: "Changed" })

/** Dead-letter list filters. */
export const DeadLetterParams = Schema.Struct({
  group: Schema.optionalWith(Schema.String, { exact: true }),
  type: Schema.optionalWith(Schema.String, { exact: true }),
  limit: Schema.optionalWith(integerParameter(1, 1000), { exact: true, default: () => 100 }).annotations({
    description: "dead letters per page, 1 to 1000 (default 100)"
  })
})

/** The dashboard's live view and dead-letter handling, through the same `Operations` as the CLI. */
export class OperationsGroup extends HttpApiGroup.make("operations")
  .add(
    HttpApiEndpoint.get("groups", "/groups")
      .addSuccess(GroupsLive)
      .addError(ServerError)
      .annotate(OpenApi.Summary, "Every consumer group: queue, dead letters, throughput per bucket, p95 latency")
  )
  .add(
    HttpApiEndpoint.get("topology", "/topology")
      .addSuccess(TopologyView)
      .addError(ServerError)
      .annotate(OpenApi.Summary, "The pipeline as a graph: event types → consumer groups → the types they emit")
  )
  .add(
    HttpApiEndpoint.get("deadLetters", "/dead-letters")
      .setUrlParams(DeadLetterParams)
      .addSuccess(Schema.Array(DeadLetterView))
      .addError(ServerError)
      .annotate(OpenApi.Summary, "Dead letters, newest first")
  )
  .add(
    HttpApiEndpoint.get("deadLetter", "/dead-letters/:eventId")
      .setPath(Schema.Struct({ eventId: EventId }))
      .setUrlParams(Schema.Struct({ group: Schema.optionalWith(Schema.String, { exact: true }) }))
      .addSuccess(Schema.Array(DeadLetterDetailView))
      .addError(ServerError)
      .annotate(OpenApi.Summary, "An event's dead letters (one per failed group; empty when none)")
  )
  .add(
    HttpApiEndpoint.post("retry", "/dead-letters/retry")
      .setPayload(DeliveryRefs)
      .addSuccess(Changed)
      .addError(ServerError)
      .annotate(OpenApi.Summary, "Requeue dead letters now, attempts reset")
  )
  .add(
    HttpApiEndpoint.post("skip", "/dead-letters/skip")
      .setPayload(DeliveryRefs)
      .addSuccess(Changed)
      .addError(ServerError)
      .annotate(OpenApi.Summary, "Mark dead letters skipped")
  )
  .prefix("/api/v1/ops")
{}

/** The archive's API. */
export class Api extends HttpApi.make("archive")
  .add(SearchGroup)
  .add(RecordsGroup)
  .add(DepositionsGroup)
  .add(EventsGroup)
  .add(PipelineGroup)
  .add(HealthGroup)
  .add(OperationsGroup)
  .annotateContext(OpenApi.annotations({
    title: "Archive API",
    version: "1.0.0",
    description: "Search and records of the archive, depositions and curation, the event changefeed, and the " +
      "pipeline's state."
  }))
{}
