/**
 * The archive pipeline: its handlers, in chain order.
 *
 * ```
 * TriggerInitialSourceRun    ServerStarted        → SourceRequested (per configured initial run)
 * PullFromSource             SourceRequested      → DepositionSubmitted per record + next page | SourceRunCompleted
 * ValidateDeposition         DepositionSubmitted  → ValidationCompleted (passed | failed)
 * AutoApproveCuration        ValidationCompleted  → DepositionApproved (passed ones, in auto mode)
 * ConvertDepositionToRecord  DepositionApproved   → RecordPublished (record saved in the same transaction)
 * FanOutToIndexBackends      RecordPublished      → IndexRecord per backend (routing key = backend name)
 * Index.<backend>            IndexRecord[backend] → the backend's index (vector: batches of 100)
 * ```
 */
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import { Handler, Outbox } from "../runtime/index.js"
import type { IndexBackend, Settings } from "./ArchiveConfig.js"
import { ArchiveConfig } from "./ArchiveConfig.js"
import { ArchiveStore, type RecordRow } from "./ArchiveStore.js"
import {
  DepositionApproved,
  DepositionSubmitted,
  IndexRecord,
  RecordPublished,
  ServerStarted,
  SourceRequested,
  SourceRunCompleted,
  ValidationCompleted
} from "./Events.js"
import { KeywordIndex } from "./index/KeywordIndex.js"
import { VectorIndex } from "./index/VectorIndex.js"
import { Sources } from "./source/Sources.js"
import * as Srn from "./Srn.js"
import * as Rules from "./validation/Rules.js"

const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

/** The run id of a source's initial run: the same on every start, so a restart does not re-ingest. */
export const initialRunId = (run: Settings["initialRuns"][number]) => `${run.source}:initial:${run.since}:${run.limit}`

/** The SRN id shared by an upstream record's deposition and record. */
export const upstreamSrnId = (source: string, upstreamId: string) => Srn.idFrom(`${source}-${upstreamId}`)

/** The SRN of the deposition of an upstream record. */
export const depositionSrn = (domain: string, source: string, upstreamId: string) =>
  Srn.make({ domain, type: "dep", id: upstreamSrnId(source, upstreamId) })

/** The SRN of the (first version of the) record of an upstream record. */
export const recordSrn = (domain: string, source: string, upstreamId: string, version = 1) =>
  Srn.make({ domain, type: "rec", id: upstreamSrnId(source, upstreamId), version })

export const TriggerInitialSourceRun = Handler.make({
  name: "archive.TriggerInitialSourceRun",
  event: ServerStarted,
  handle: () =>
    Effect.gen(function*() {
      const { initialRuns } = yield* ArchiveConfig
      const store = yield* ArchiveStore
      const sources = yield* Sources
      const at = yield* now
      for (const run of initialRuns) {
        if (sources.get(run.source) === undefined) {
          yield* Effect.logWarning(
            `no source named ${JSON.stringify(run.source)} (known: ${sources.names.join(", ")}); initial run skipped`
          )
          continue
        }
        const runId = initialRunId(run)
        const started = yield* store.startRun({ runId, ...run, now: at })
        if (!started) continue
        yield* Outbox.emit(new SourceRequested({ ...run, runId, offset: 0 }), { dedupKey: `${runId}:0` })
        yield* Effect.logInfo(`source run ${runId} started`)
      }
    })
})

export const PullFromSource = Handler.make({
  name: "archive.PullFromSource",
  event: SourceRequested,
  // External I/O: no transaction held open while the source answers.
  transaction: "ack",
  claimTimeout: "5 minutes",
  maxAttempts: 8,
  handle: (request) =>
    Effect.gen(function*() {
      const { domain } = yield* ArchiveConfig
      const store = yield* ArchiveStore
      const source = (yield* Sources).get(request.source)
      if (source === undefined) {
        return yield* new Handler.Permanent({ message: `no source named ${JSON.stringify(request.source)}` })
      }
      const count = Math.min(request.chunkSize, request.limit - request.offset)
      if (count <= 0) {
        yield* store.completeRun(request.runId, request.offset, request.offset, yield* now)
        return
      }
      const page = yield* source.fetchPage({ since: request.since, offset: request.offset, count }).pipe(
        Effect.mapError((error) => error.retryable ? error : new Handler.Permanent({ message: error.message }))
      )
      const records = page.records.slice(0, count)
      yield* Outbox.emitAllOf(
        DepositionSubmitted,
        records.map((record) => ({
          deposition: depositionSrn(domain, source.name, record.accession),
          source: source.name,
          upstreamId: record.accession,
          record
        })),
        (submitted) => ({ dedupKey: `${submitted.source}:${submitted.upstreamId}` })
      )
      // Advance by the page asked for: a source may drop entries (withdrawn, not a series).
      const pulled = Math.min(request.offset + count, page.total)
      const finished = pulled >= request.limit || pulled >= page.total
      if (finished) {
        yield* Outbox.emit(
          new SourceRunCompleted({ source: source.name, runId: request.runId, pulled, total: page.total }),
          { dedupKey: request.runId }
        )
        yield* store.completeRun(request.runId, pulled, page.total, yield* now)
      } else {
        yield* Outbox.emit(new SourceRequested({ ...request, offset: pulled }), {
          dedupKey: `${request.runId}:${pulled}`
        })
        yield* store.recordProgress(request.runId, pulled, page.total)
      }
    })
})

export const ValidateDeposition = Handler.make({
  name: "archive.ValidateDeposition",
  event: DepositionSubmitted,
  batchSize: 20,
  concurrency: 2,
  handle: (submitted) =>
    Effect.gen(function*() {
      const store = yield* ArchiveStore
      const at = yield* now
      const inserted = yield* store.insertDeposition({
        srn: submitted.deposition,
        source: submitted.source,
        upstreamId: submitted.upstreamId,
        payload: submitted.record,
        now: at
      })
      if (!inserted) {
        return yield* new Handler.Skip({ reason: `already deposited: ${submitted.source}/${submitted.upstreamId}` })
      }
      const results = Rules.validate(submitted.record, at)
      const status = Rules.status(results)
      yield* store.setValidation(
        submitted.deposition,
        results,
        status === "passed" ? "awaiting_curation" : "rejected",
        at
      )
      yield* Outbox.emit(new ValidationCompleted({ deposition: submitted.deposition, status, results }))
    })
})

export const AutoApproveCuration = Handler.make({
  name: "archive.AutoApproveCuration",
  event: ValidationCompleted,
  batchSize: 20,
  handle: (validation) =>
    Effect.gen(function*() {
      const { curation } = yield* ArchiveConfig
      if (validation.status !== "passed" || curation !== "auto") return
      const store = yield* ArchiveStore
      const approved = yield* store.curate(validation.deposition, "approved", "auto", yield* now)
      if (approved) {
        yield* Outbox.emit(new DepositionApproved({ deposition: validation.deposition, approvedBy: "auto" }))
      }
    })
})

export const ConvertDepositionToRecord = Handler.make({
  name: "archive.ConvertDepositionToRecord",
  event: DepositionApproved,
  batchSize: 20,
  concurrency: 2,
  handle: (approval) =>
    Effect.gen(function*() {
      const { domain } = yield* ArchiveConfig
      const store = yield* ArchiveStore
      const deposition = yield* store.deposition(approval.deposition)
      if (deposition === undefined) {
        return yield* new Handler.Permanent({ message: `no deposition ${approval.deposition}` })
      }
      const srn = recordSrn(domain, deposition.source, deposition.upstream_id)
      const published = yield* store.publish({
        srn,
        recordId: upstreamSrnId(deposition.source, deposition.upstream_id),
        version: 1,
        depositionSrn: deposition.srn,
        source: deposition.source,
        upstreamId: deposition.upstream_id,
        title: String(deposition.payload.title ?? ""),
        metadata: deposition.payload,
        now: yield* now
      })
      if (!published) return yield* new Handler.Skip({ reason: `record ${srn} exists already` })
      yield* Outbox.emit(new RecordPublished({ record: srn, deposition: approval.deposition }), { dedupKey: srn })
    })
})

export const FanOutToIndexBackends = Handler.make({
  name: "archive.FanOutToIndexBackends",
  event: RecordPublished,
  batchSize: 50,
  handleBatch: (deliveries) =>
    Effect.gen(function*() {
      const { indexes } = yield* ArchiveConfig
      yield* Outbox.emitAll(deliveries.flatMap(({ event }) =>
        indexes.map((backend) => ({
          event: new IndexRecord({ record: event.record, backend: backend.name }),
          options: { routingKey: backend.name, dedupKey: `${event.record}:${backend.name}` }
        }))
      ))
    })
})

const text = (record: RecordRow) => {
  const m = record.metadata
  return [m.summary, m.organism, m.type, m.platform, m.accession].filter((part) => typeof part === "string").join(". ")
}

const loadRecords = (srns: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const rows = yield* (yield* ArchiveStore).records(srns)
    return new Map(rows.map((row) => [row.srn, row]))
  })

/** Settings of the index handlers that deployments (and tests) tune. */
export interface Tuning {
  readonly indexRetry?: Schedule.Schedule<unknown, unknown> | undefined
  readonly indexMaxAttempts?: number | undefined
  readonly pollInterval?: Duration.DurationInput | undefined
}

/** The handler that feeds one configured index backend. */
export const indexHandler = (backend: IndexBackend, tuning: Tuning = {}) =>
  backend.kind === "vector"
    ? Handler.make({
      name: `archive.Index.${backend.name}`,
      event: IndexRecord,
      routingKey: backend.name,
      retry: tuning.indexRetry,
      maxAttempts: tuning.indexMaxAttempts,
      pollInterval: tuning.pollInterval,
      // One embedding call per batch: why the vector backend takes 100 at a time.
      batchSize: 100,
      handleBatch: (deliveries) =>
        Effect.gen(function*() {
          const records = yield* loadRecords(deliveries.map(({ event }) => event.record))
          const found = deliveries.flatMap(({ event }) => {
            const record = records.get(event.record)
            return record === undefined
              ? []
              : [{ srn: record.srn, title: record.title, text: `${record.title}. ${text(record)}` }]
          })
          yield* (yield* VectorIndex).index(backend.name, found, yield* now).pipe(
            Effect.mapError((error) =>
              error._tag === "EmbedderError" && !error.retryable
                ? new Handler.Permanent({ message: error.message, cause: error })
                : error
            )
          )
          return Handler.outcomes(deliveries.map(({ event }) =>
            records.has(event.record)
              ? Handler.Outcome.succeeded
              : Handler.Outcome.permanent(`no record ${event.record}`)
          ))
        })
    })
    : Handler.make({
      name: `archive.Index.${backend.name}`,
      event: IndexRecord,
      routingKey: backend.name,
      retry: tuning.indexRetry,
      maxAttempts: tuning.indexMaxAttempts,
      pollInterval: tuning.pollInterval,
      batchSize: 1,
      concurrency: 4,
      handle: (event) =>
        Effect.gen(function*() {
          const record = (yield* loadRecords([event.record])).get(event.record)
          if (record === undefined) return yield* new Handler.Permanent({ message: `no record ${event.record}` })
          yield* (yield* KeywordIndex).index(backend.name, [{
            srn: record.srn,
            title: record.title,
            body: text(record)
          }], yield* now)
        })
    })

/** Every handler of the pipeline for the given settings. */
export const handlers = (settings: Settings, tuning: Tuning = {}) =>
  [
    TriggerInitialSourceRun,
    PullFromSource,
    ValidateDeposition,
    AutoApproveCuration,
    ConvertDepositionToRecord,
    FanOutToIndexBackends,
    ...settings.indexes.map((backend) => indexHandler(backend, tuning))
  ] as const
