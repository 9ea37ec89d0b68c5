/**
 * The archive API's handlers: one `HttpApiBuilder.group` layer per group of `Api.ts`,
 * merged in {@link layer}. Each maps its services' errors to the API's: search and
 * parameter problems to 400 (`HttpApiDecodeError`, naming the field), unknown SRNs and
 * indexes to 404, curation conflicts to 409, and database failures to a logged 500.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { ArchiveConfig } from "../archive/ArchiveConfig.js"
import { ArchiveStore, type DepositionRow, type RecordRow } from "../archive/ArchiveStore.js"
import * as Curation from "../archive/curation/Curation.js"
import { DepositionSubmitted } from "../archive/Events.js"
import { depositionSrn } from "../archive/Pipeline.js"
import { Search } from "../archive/search/Search.js"
import { UpstreamRecord } from "../archive/source/UpstreamRecord.js"
import * as Srn from "../archive/Srn.js"
import * as Rules from "../archive/validation/Rules.js"
import * as Operations from "../ops/Operations.js"
import { type Errors, Outbox, Store } from "../runtime/index.js"
import {
  Api,
  type ChangeEvent,
  Conflict,
  type DepositionView,
  NotFound,
  NotReady,
  type RecordView,
  RuleResult,
  ServerError,
  start
} from "./Api.js"
import { OperationsLive } from "./OperationsHandlers.js"

/** The source name of depositions submitted through the API. */
export const manualSource = "manual"

/** How long `/ready` waits for `SELECT 1`. */
const readyTimeout = Duration.seconds(5)

/** Logs a failure with its cause and answers 500, saying what the server was doing. */
const serverError = (what: string) => (error: unknown): Effect.Effect<never, ServerError> =>
  Effect.zipRight(
    Effect.logError(`${what} failed`, error),
    Effect.fail(new ServerError({ message: `${what} failed` }))
  )

/** A 400 for a check made after decoding, in the same shape as the schema's own. */
const badRequest = (field: string, message: string) =>
  new HttpApiDecodeError({ message: `${field}: ${message}`, issues: [{ _tag: "Type", path: [field], message }] })

const recordView = (row: RecordRow): typeof RecordView.Type => ({
  srn: row.srn,
  version: row.version,
  title: row.title,
  source: row.source,
  upstreamId: row.upstream_id,
  metadata: row.metadata,
  publishedAt: row.published_at,
  deposition: row.deposition_srn
})

const decodeResults = Schema.decodeUnknownEither(Schema.Array(RuleResult))

const depositionView = (row: DepositionRow): Either.Either<typeof DepositionView.Type, ParseResult.ParseError> =>
  Either.map(
    row.validation === null ? Either.right(null) : decodeResults(row.validation),
    (results) => ({
      srn: row.srn,
      state: row.state,
      source: row.source,
      upstreamId: row.upstream_id,
      validation: results === null ? null : { status: Rules.status(results), results },
      curatedBy: row.curated_by,
      record: row.record_srn,
      submittedAt: row.submitted_at,
      updatedAt: row.updated_at,
      upstream: row.payload
    })
  )

/** Reads a deposition for an answer: 404 when unknown. */
const readDeposition = (srn: string) =>
  Effect.gen(function*() {
    const store = yield* ArchiveStore
    const row = yield* store.deposition(srn).pipe(Effect.catchAll(serverError(`reading deposition ${srn}`)))
    if (row === undefined) {
      return yield* new NotFound({ resource: "deposition", id: srn, message: `no deposition ${srn}` })
    }
    return yield* Either.match(depositionView(row), {
      onLeft: serverError(`reading the validation results of deposition ${srn}`),
      onRight: Effect.succeed
    })
  })

/** `/api/v1/search/{index}`. */
export const SearchLive = HttpApiBuilder.group(
  Api,
  "search",
  (handlers) =>
    handlers.handle("search", ({ path, urlParams }) =>
      Effect.gen(function*() {
        const search = yield* Search
        const page = yield* search.search({ index: path.index, ...urlParams }).pipe(
          Effect.catchAll((error): Effect.Effect<never, NotFound | HttpApiDecodeError | ServerError> => {
            switch (error._tag) {
              case "UnknownIndex":
                return Effect.fail(
                  new NotFound({ resource: "index", id: error.index, message: error.message, known: error.known })
                )
              case "InvalidQuery":
                return Effect.fail(badRequest(error.field, error.rule))
              default:
                return serverError(`searching index ${path.index}`)(error)
            }
          })
        )
        return { ...page, limit: urlParams.limit, offset: urlParams.offset }
      })).handle("indexes", () => Effect.map(ArchiveConfig, (settings) => settings.indexes))
)

/** `/api/v1/records/{srn}`. */
export const RecordsLive = HttpApiBuilder.group(
  Api,
  "records",
  (handlers) =>
    handlers.handle("get", ({ path }) =>
      Effect.gen(function*() {
        const store = yield* ArchiveStore
        const row = yield* store.record(path.srn).pipe(Effect.catchAll(serverError(`reading record ${path.srn}`)))
        if (row === undefined) {
          const unversioned = Either.getOrUndefined(Srn.parse(path.srn))?.version === undefined
          return yield* new NotFound({
            resource: "record",
            id: path.srn,
            message: unversioned
              ? `no record ${path.srn}: record SRNs carry a version, e.g. ${path.srn}@1`
              : `no record ${path.srn}`
          })
        }
        return recordView(row)
      }))
)

/** Runs a curation decision: 404 for an unknown deposition, 409 when it is not awaiting curation; then its state. */
const decide = <R>(
  decision: Effect.Effect<void, Curation.NotAwaitingCuration | Errors.EmitFailed | SqlError, R>,
  srn: string
) =>
  decision.pipe(
    Effect.catchAll((error): Effect.Effect<never, NotFound | Conflict | ServerError> =>
      error._tag !== "NotAwaitingCuration"
        ? serverError(`curating deposition ${srn}`)(error)
        : error.state === null
        ? Effect.fail(new NotFound({ resource: "deposition", id: srn, message: error.message }))
        : Effect.fail(new Conflict({ deposition: srn, state: error.state, message: error.message }))
    ),
    Effect.zipRight(readDeposition(srn))
  )

/** `/api/v1/depositions…`: manual submission, state, curation. */
export const DepositionsLive = HttpApiBuilder.group(Api, "depositions", (handlers) =>
  handlers
    .handle("submit", ({ payload }) =>
      Effect.gen(function*() {
        const { domain } = yield* ArchiveConfig
        const accession = payload.accession.trim()
        const srn = depositionSrn(domain, manualSource, accession)
        yield* Outbox.emit(
          new DepositionSubmitted({
            deposition: srn,
            source: manualSource,
            upstreamId: accession,
            record: new UpstreamRecord({ ...payload, accession })
          }),
          // The same key as a source run's, so a repeated submission is one deposition.
          { dedupKey: `${manualSource}:${accession}` }
        ).pipe(Effect.catchAll(serverError(`submitting ${accession}`)))
        return { deposition: srn, source: manualSource, upstreamId: accession }
      }))
    .handle("get", ({ path }) => readDeposition(path.srn))
    .handle("approve", ({ path, payload }) => decide(Curation.approve(path.srn, payload.curator), path.srn))
    .handle("reject", ({ path, payload }) => decide(Curation.reject(path.srn, payload.curator), path.srn)))

/** `/api/v1/events`: the changefeed. */
export const EventsLive = HttpApiBuilder.group(
  Api,
  "events",
  (handlers) =>
    handlers.handle("changes", ({ urlParams }) =>
      Effect.gen(function*() {
        const store = yield* Store.Store
        const after = urlParams.after ?? start
        const rows = yield* store.changes({
          afterTx: after.tx,
          afterId: after.id,
          limit: urlParams.limit,
          types: urlParams.types ?? null
        }).pipe(Effect.catchAll(serverError("reading the changefeed")))
        const last = rows.at(-1)
        const events = rows.map((row): typeof ChangeEvent.Type => ({
          id: row.id,
          type: row.type,
          routingKey: row.routing_key,
          payload: row.payload,
          metadata: row.metadata,
          createdAt: row.created_at
        }))
        return { events, next: last === undefined ? after : { tx: last.tx, id: last.id } }
      }))
)

/** The window of `throughputPerSecond`. */
const throughputWindow = Duration.minutes(1)

/** `/api/v1/pipeline`. */
export const PipelineLive = HttpApiBuilder.group(
  Api,
  "pipeline",
  (handlers) =>
    handlers.handle("state", () =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const window = Duration.toMillis(throughputWindow)
        const stats = yield* (yield* Store.Store).groupStats(new Date(now), new Date(now - window)).pipe(
          Effect.catchAll(serverError("reading the consumer groups' statistics"))
        )
        const archive = yield* (yield* ArchiveStore).progress.pipe(
          Effect.catchAll(serverError("reading the archive's progress"))
        )
        return {
          at: new Date(now),
          groups: stats.map((group) => ({
            group: group.consumer_group,
            pending: group.pending,
            due: group.due,
            claimed: group.claimed,
            failed: group.failed,
            delivered: group.delivered,
            skipped: group.skipped,
            oldestPendingAgeSeconds: group.oldest_pending_at === null
              ? null
              : Math.max(0, (now - group.oldest_pending_at.getTime()) / 1000),
            throughputPerSecond: group.recent / (window / 1000)
          })),
          archive
        }
      }))
)

/** `/health` and `/ready`. */
export const HealthLive = HttpApiBuilder.group(Api, "health", (handlers) =>
  handlers
    .handle("health", () => Effect.succeed({ status: "ok" as const }))
    .handle("ready", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`SELECT 1`.pipe(
          Effect.timeoutFail({
            duration: readyTimeout,
            onTimeout: () =>
              new NotReady({ message: `the database did not answer within ${Duration.format(readyTimeout)}` })
          }),
          Effect.catchTag("SqlError", (error) =>
            Effect.zipRight(
              Effect.logWarning("not ready: the database is not reachable", error),
              Effect.fail(new NotReady({ message: "the database is not reachable" }))
            ))
        )
        return { status: "ready" as const }
      })))

/** Every group's handlers. Needs the archive's services, search, the runtime's store and outbox, and SQL. */
export const layer = Layer.mergeAll(
  SearchLive,
  RecordsLive,
  DepositionsLive,
  EventsLive,
  PipelineLive,
  HealthLive,
  OperationsLive.pipe(Layer.provide(Operations.layer))
)
