/**
 * The archive pipeline end to end on the real database: the worker pool runs in this
 * process over the shipped sample set (small slices of it), and every test waits on
 * database state. Covers the whole chain, source run bounds, re-pulls, restarts, manual
 * curation, failure isolation between index backends, and backends with any name.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import { randomUUID } from "node:crypto"
import * as Archive from "../../src/archive/Archive.js"
import * as ArchiveConfig from "../../src/archive/ArchiveConfig.js"
import { ArchiveStore } from "../../src/archive/ArchiveStore.js"
import * as Curation from "../../src/archive/curation/Curation.js"
import { ServerStarted, SourceRequested } from "../../src/archive/Events.js"
import * as Embedder from "../../src/archive/index/Embedder.js"
import type * as Pipeline from "../../src/archive/Pipeline.js"
import { depositionSrn, initialRunId, recordSrn } from "../../src/archive/Pipeline.js"
import * as Search from "../../src/archive/search/Search.js"
import * as FileSource from "../../src/archive/source/FileSource.js"
import type { UpstreamRecord } from "../../src/archive/source/UpstreamRecord.js"
import type { SrnString } from "../../src/archive/Srn.js"
import * as Rules from "../../src/archive/validation/Rules.js"
import * as Progress from "../../src/cli/Progress.js"
import * as Run from "../../src/cli/Run.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as Retention from "../../src/runtime/Retention.js"
import * as ArchiveDatabase from "../support/ArchiveDatabase.js"
import * as Runtime from "../support/Runtime.js"

const { domain } = ArchiveConfig.defaults
const source = "sample"
const since = "2000-01-01"

/** Settings over the defaults (vector and keyword backends, auto curation). */
const settingsWith = (overrides: Partial<ArchiveConfig.Settings>): ArchiveConfig.Settings => ({
  ...ArchiveConfig.defaults,
  ...overrides
})

const initialRun = (limit: number, chunkSize: number, from = since) => ({ source, since: from, limit, chunkSize })

/** Index handlers that retry and poll fast, so failure tests take a second, not minutes. */
const fast: Pipeline.Tuning = {
  indexRetry: Schedule.spaced("50 millis"),
  indexMaxAttempts: 5,
  pollInterval: "50 millis"
}

/**
 * Runs `body` with the archive's services for `settings`. Pools started in `body` live in
 * its own scope, so they stop before the services they use are released.
 */
const withArchive = <A, E, R>(
  settings: ArchiveConfig.Settings,
  body: Effect.Effect<A, E, R>,
  overrides: Archive.Overrides = {}
) => body.pipe(Effect.scoped, Effect.provide(Archive.layer(settings, overrides)))

/** `npm start`'s way to start: migrate, start the pool, emit `ServerStarted`, wait until drained (bounded here). */
const startAndDrain = (settings: ArchiveConfig.Settings) =>
  Run.startAndDrain(settings, { intervalMillis: 60_000 }).pipe(
    Effect.timeoutFail({
      duration: "20 seconds",
      onTimeout: () => new Error("the pipeline did not drain within 20 seconds")
    })
  )

/** Starts the pipeline's pool (with `tuning`) in the current scope and emits `ServerStarted`, as a start does. */
const start = (settings: ArchiveConfig.Settings, tuning: Pipeline.Tuning) =>
  Effect.gen(function*() {
    yield* Layer.build(Archive.pool(settings, { shutdownTimeout: "1 second" }, tuning))
    yield* emitServerStarted
  })

const emitServerStarted = Effect.gen(function*() {
  const instance = randomUUID()
  const startedAt = new Date(yield* Clock.currentTimeMillis)
  yield* Outbox.emit(new ServerStarted({ instance, startedAt }), { dedupKey: `start:${instance}` })
})

/** Waits until every archive delivery is settled and no source run is running. */
const drained = Runtime.waitUntil("the pipeline to drain", Progress.snapshot(Run.groupPrefix), Progress.isDrained)

/** One upstream record of a slice, with what the pipeline should make of it. */
interface Expected {
  readonly record: UpstreamRecord
  readonly passed: boolean
  readonly deposition: SrnString
  readonly srn: SrnString
}

/**
 * The records a run over the sample takes (the file source's first `limit` matches of
 * `from`), each validated by the rules as of now, and the number of all matches.
 */
const sampleSlice = (limit: number, from = since) =>
  Effect.gen(function*() {
    const sample = yield* FileSource.make({ path: FileSource.samplePath })
    const page = yield* sample.fetchPage({ since: from, offset: 0, count: limit })
    const today = new Date(yield* Clock.currentTimeMillis)
    const records = page.records.map((record): Expected => ({
      record,
      passed: Rules.status(Rules.validate(record, today)) === "passed",
      deposition: depositionSrn(domain, source, record.accession),
      srn: recordSrn(domain, source, record.accession)
    }))
    return {
      total: page.total,
      records,
      approved: records.filter((entry) => entry.passed),
      rejected: records.filter((entry) => !entry.passed)
    }
  })

/**
 * An approved record with a title no other approved record shares, and a word of that title
 * no other indexed text contains even without its last two letters (so neither stemming nor
 * prefix matching can find another record with it).
 */
const distinctive = (approved: ReadonlyArray<Expected>) => {
  const texts = approved.map(({ record: r }) =>
    [r.title, r.summary, r.organism, r.type, r.platform, r.accession].join(" ").toLowerCase()
  )
  for (const [i, entry] of approved.entries()) {
    if (approved.some((other, j) => j !== i && other.record.title === entry.record.title)) continue
    for (const word of entry.record.title.match(/\p{L}{7,}/gu) ?? []) {
      const stem = word.toLowerCase().slice(0, -2)
      if (texts.every((text, j) => j === i || !text.includes(stem))) return { entry, word }
    }
  }
  return assert.fail("the slice has no record with a distinctive title word")
}

// --- Reading the database (tests may; the application's SQL stays in its modules) ---

const sorted = (values: ReadonlyArray<string>) => [...values].sort()

const column = (rows: ReadonlyArray<{ readonly srn: string }>) => sorted(rows.map((row) => row.srn))

const indexedSrns = (table: "keyword_index" | "vector_index", backend: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ srn: string }>`SELECT record_srn AS srn FROM archive.${sql(table)} WHERE backend = ${backend}`,
      column
    ))

const recordSrns = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => Effect.map(sql<{ srn: string }>`SELECT srn FROM archive.records`, column)
)

interface DepositionState {
  readonly srn: string
  readonly state: string
  readonly validation: ReadonlyArray<{ rule: string; passed: boolean; message: string }> | null
  readonly record_srn: string | null
  readonly curated_by: string | null
  readonly updated_at: Date
}

const depositions = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<DepositionState>`SELECT srn, state, validation, record_srn, curated_by, updated_at
      FROM archive.depositions ORDER BY srn`
)

const countWhere = (states: ReadonlyArray<DepositionState>, state: string) =>
  states.filter((row) => row.state === state).length

interface EventRow {
  readonly id: string
  readonly payload: Record<string, unknown>
  readonly metadata: Record<string, unknown>
}

const eventsOf = (type: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<EventRow>`SELECT id::text AS id, payload, metadata FROM sluice.events e WHERE type = ${type} ORDER BY e.id`
  )

/** Deliveries not settled well: `{ "group/status": count }` of pending, claimed and failed ones. */
const unsettled = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ key: string; n: number }>`SELECT consumer_group || '/' || status AS key, count(*)::int AS n
      FROM sluice.deliveries WHERE status IN ('pending', 'claimed', 'failed') GROUP BY 1 ORDER BY 1`,
    (rows) => Object.fromEntries(rows.map((row) => [row.key, row.n]))
  ))

interface RunRow {
  readonly run_id: string
  readonly status: string
  readonly pulled: number
  readonly total: number | null
  readonly completed_at: Date | null
}

const sourceRuns = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<RunRow>`SELECT run_id, status, pulled, total, completed_at FROM archive.source_runs ORDER BY started_at`
)

/**
 * Registers and requests a run over the sample the way `TriggerInitialSourceRun` does, under
 * `runId`, in one transaction.
 */
const requestRun = (runId: string, limit: number, chunkSize: number) =>
  Effect.gen(function*() {
    const store = yield* ArchiveStore
    const sql = yield* SqlClient.SqlClient
    const run = { source, since, limit, chunkSize }
    yield* sql.withTransaction(Effect.gen(function*() {
      assert.isTrue(yield* store.startRun({ runId, ...run, now: new Date(yield* Clock.currentTimeMillis) }))
      yield* Outbox.emit(new SourceRequested({ ...run, runId, offset: 0 }), { dedupKey: `${runId}:0` })
    }))
  })

/** What retention does once the period has passed: settled deliveries and the events no group needs are deleted. */
const pruneSettled = Effect.gen(function*() {
  const before = new Date((yield* Clock.currentTimeMillis) + 1)
  yield* Retention.pruneBefore(before, 10_000)
})

/** Tries to approve a deposition that is not awaiting curation: the state the refusal names. */
const refusal = (deposition: SrnString) =>
  Curation.approve(deposition, "carol").pipe(
    Effect.flip,
    Effect.map((error) => error._tag === "NotAwaitingCuration" ? error.state : `unexpected ${error._tag}`)
  )

const vectorGroup = "archive.Index.vector"
const keywordGroup = "archive.Index.keyword"

/**
 * An embedder that fails its first `failures` calls with a retryable error (every call when
 * `failures` is undefined), then delegates to the local one once `gate` (if any) is open.
 */
const unreliableEmbedder = (options: { readonly failures?: number; readonly gate?: Deferred.Deferred<void> }) =>
  Effect.gen(function*() {
    const calls = yield* Ref.make(0)
    const layer = Layer.effect(
      Embedder.Embedder,
      Effect.map(Embedder.make(), (real) =>
        Embedder.Embedder.of({
          name: "unreliable",
          dimensions: real.dimensions,
          embed: (texts) =>
            Effect.flatMap(Ref.updateAndGet(calls, (n) => n + 1), (call) =>
              options.failures === undefined || call <= options.failures
                ? Effect.fail(
                  new Embedder.EmbedderError({
                    embedder: "unreliable",
                    message: `embedding service unavailable (call ${call})`,
                    retryable: true
                  })
                )
                : Effect.zipRight(
                  options.gate === undefined ? Effect.void : Deferred.await(options.gate),
                  real.embed(texts)
                ))
        }))
    )
    return { calls, layer }
  })

// Live services: the pool's retries, polls and validation's "today" run on the real clock.
layer(Layer.mergeAll(ArchiveDatabase.layer, NodeFileSystem.layer, Logger.minimumLogLevel(LogLevel.Warning)), {
  excludeTestServices: true,
  timeout: 60_000
})(
  "Archive pipeline",
  (it) => {
    it.scoped("an initial run over 300 sample records: validated, published, indexed, searchable, drained", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const run = initialRun(300, 50)
        const settings = settingsWith({ initialRuns: [run] })
        const slice = yield* sampleSlice(300)
        assert.strictEqual(slice.records.length, 300)
        assert.isAbove(slice.rejected.length, 0, "the slice holds records that fail validation")

        yield* withArchive(
          settings,
          Effect.gen(function*() {
            const summary = yield* startAndDrain(settings)
            assert.strictEqual(summary.pulled, 300)
            assert.strictEqual(summary.published, slice.approved.length)
            assert.strictEqual(summary.rejected, slice.rejected.length)
            assert.deepStrictEqual(summary.indexed, [
              { backend: "vector", count: slice.approved.length },
              { backend: "keyword", count: slice.approved.length }
            ])
            assert.strictEqual(summary.deadLetters, 0)

            // Every approved record published and in both backends; nothing else.
            const approved = sorted(slice.approved.map((entry) => entry.srn))
            assert.deepStrictEqual(yield* recordSrns, approved)
            assert.deepStrictEqual(yield* indexedSrns("keyword_index", "keyword"), approved)
            assert.deepStrictEqual(yield* indexedSrns("vector_index", "vector"), approved)

            // Every deposition: passed ones published with their record, failed ones rejected with the rules' results.
            const states = new Map((yield* depositions).map((row) => [row.srn, row]))
            assert.strictEqual(states.size, 300)
            for (const entry of slice.approved) {
              const row = states.get(entry.deposition)!
              assert.strictEqual(row.state, "published", entry.record.accession)
              assert.strictEqual(row.record_srn, entry.srn)
              assert.strictEqual(row.curated_by, "auto")
            }
            const published = new Set(
              (yield* eventsOf("archive.RecordPublished")).map((e) => String(e.payload.record))
            )
            for (const entry of slice.rejected) {
              const row = states.get(entry.deposition)!
              assert.strictEqual(row.state, "rejected", entry.record.accession)
              assert.isNull(row.record_srn)
              // Validated at `updated_at` (nothing changed it since): the stored results are exactly the rules' results.
              const expected = Rules.validate(entry.record, row.updated_at).map(({ message, passed, rule }) => ({
                rule,
                passed,
                message
              }))
              assert.deepStrictEqual(row.validation, expected, entry.record.accession)
              assert.isTrue(expected.some((result) => !result.passed))
              assert.isFalse(published.has(entry.srn))
            }
            const failedValidations = (yield* eventsOf("archive.ValidationCompleted")).filter((e) =>
              e.payload.status === "failed"
            )
            assert.deepStrictEqual(
              sorted(failedValidations.map((e) => String(e.payload.deposition))),
              sorted(slice.rejected.map((entry) => entry.deposition))
            )

            // Searches find the expected records first.
            const search = yield* Search.Search
            const { entry, word } = distinctive(slice.approved)
            const keyword = yield* search.search({ index: "keyword", q: word, limit: 5, offset: 0 })
            assert.strictEqual(keyword.results[0]?.srn, entry.srn, `keyword "${word}": ${JSON.stringify(keyword)}`)
            const vector = yield* search.search({ index: "vector", q: entry.record.title, limit: 5, offset: 0 })
            assert.strictEqual(vector.total, slice.approved.length)
            assert.strictEqual(vector.results[0]?.srn, entry.srn, `vector "${entry.record.title}"`)
            assert.strictEqual(vector.results[0]?.title, entry.record.title)

            // The run is complete, and nothing is left in the queues.
            const runs = yield* sourceRuns
            assert.deepStrictEqual(
              runs.map(({ pulled, run_id, status, total }) => ({ run_id, status, pulled, total })),
              [
                { run_id: initialRunId(run), status: "completed", pulled: 300, total: slice.total }
              ]
            )
            assert.isNotNull(runs[0]!.completed_at)
            assert.deepStrictEqual(yield* unsettled, {})
          })
        )
      }))

    it.scoped("a run stops at its limit: 130 in pages of 50, 50, 30, one SourceRunCompleted, no loop", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const run = initialRun(130, 50)
        const settings = settingsWith({ initialRuns: [run] })
        const slice = yield* sampleSlice(130)
        yield* withArchive(settings, startAndDrain(settings))

        const requests = yield* eventsOf("archive.SourceRequested")
        assert.deepStrictEqual(requests.map((e) => e.payload.offset), [0, 50, 100])
        // Each page's depositions were emitted by the pull of that page.
        const submitted = yield* eventsOf("archive.DepositionSubmitted")
        const perPage = requests.map((request) => submitted.filter((e) => e.metadata.causationId === request.id).length)
        assert.deepStrictEqual(perPage, [50, 50, 30])
        assert.deepStrictEqual(
          submitted.map((e) => String(e.payload.deposition)),
          slice.records.map((entry) => entry.deposition)
        )

        const completed = yield* eventsOf("archive.SourceRunCompleted")
        assert.deepStrictEqual(completed.map((e) => e.payload), [{
          _tag: "archive.SourceRunCompleted",
          source,
          runId: initialRunId(run),
          pulled: 130,
          total: slice.total
        }])
        assert.deepStrictEqual(yield* Runtime.statusCounts("archive.PullFromSource"), { delivered: 3 })
        assert.deepStrictEqual((yield* sourceRuns).map(({ pulled, status }) => ({ status, pulled })), [
          { status: "completed", pulled: 130 }
        ])
        assert.strictEqual((yield* depositions).length, 130)
        assert.deepStrictEqual(yield* unsettled, {})
      }))

    it.scoped("a limit beyond the data stops at the end of the results: pulled = total = the matches", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const from = "2025-06-01"
        const run = initialRun(5_000, 50, from)
        const settings = settingsWith({ initialRuns: [run] })
        const slice = yield* sampleSlice(5_000, from)
        assert.isBelow(slice.total, 150, "a small slice")
        assert.strictEqual(slice.records.length, slice.total)
        yield* withArchive(settings, startAndDrain(settings))

        const completed = yield* eventsOf("archive.SourceRunCompleted")
        assert.deepStrictEqual(completed.map((e) => e.payload), [{
          _tag: "archive.SourceRunCompleted",
          source,
          runId: initialRunId(run),
          pulled: slice.total,
          total: slice.total
        }])
        const pages = Math.ceil(slice.total / 50)
        assert.deepStrictEqual(
          (yield* eventsOf("archive.SourceRequested")).map((e) => e.payload.offset),
          Array.from({ length: pages }, (_, i) => i * 50)
        )
        assert.deepStrictEqual((yield* sourceRuns).map(({ pulled, status, total }) => ({ status, pulled, total })), [
          { status: "completed", pulled: slice.total, total: slice.total }
        ])
        assert.strictEqual((yield* depositions).length, slice.total)
        assert.deepStrictEqual(yield* unsettled, {})
      }))

    it.scoped("re-pulling the same records under another run id creates no depositions or records", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const settings = settingsWith({ initialRuns: [initialRun(40, 20)] })
        const first = yield* sampleSlice(40)
        const wider = yield* sampleSlice(60)
        const widerDepositions = sorted(wider.records.map((entry) => entry.deposition))
        const widerRecords = sorted(wider.approved.map((entry) => entry.srn))
        yield* withArchive(
          settings,
          Effect.gen(function*() {
            yield* startAndDrain(settings)
            assert.strictEqual((yield* eventsOf("archive.DepositionSubmitted")).length, 40)
            assert.strictEqual((yield* depositions).length, 40)
            assert.deepStrictEqual(yield* recordSrns, sorted(first.approved.map((entry) => entry.srn)))

            // A second run over the same 40 records and 20 more: only the 20 are submitted.
            yield* requestRun("repull", 60, 20)
            yield* drained
            assert.strictEqual((yield* eventsOf("archive.DepositionSubmitted")).length, 60)
            assert.deepStrictEqual(column(yield* depositions), widerDepositions)
            assert.deepStrictEqual(yield* recordSrns, widerRecords)
            assert.deepStrictEqual(yield* indexedSrns("keyword_index", "keyword"), widerRecords)
            assert.deepStrictEqual(yield* indexedSrns("vector_index", "vector"), widerRecords)

            // Once retention has pruned the events (and their dedup keys), a third run submits all 60
            // again: validation skips every one as already deposited.
            yield* pruneSettled
            assert.strictEqual((yield* eventsOf("archive.DepositionSubmitted")).length, 0)
            yield* requestRun("repull-after-retention", 60, 20)
            yield* drained
            assert.strictEqual((yield* eventsOf("archive.DepositionSubmitted")).length, 60)
            const validations = yield* Runtime.deliveries("archive.ValidateDeposition")
            assert.deepStrictEqual(
              sorted(validations.map((row) => `${row.status}: ${row.last_error}`)),
              sorted(wider.records.map((entry) => `skipped: already deposited: ${source}/${entry.record.accession}`))
            )
            assert.deepStrictEqual(column(yield* depositions), widerDepositions)
            assert.deepStrictEqual(yield* recordSrns, widerRecords)
            assert.strictEqual((yield* eventsOf("archive.RecordPublished")).length, 0)

            const runs = yield* sourceRuns
            assert.deepStrictEqual(runs.map(({ pulled, run_id, status }) => ({ run_id, status, pulled })), [
              { run_id: initialRunId(settings.initialRuns[0]!), status: "completed", pulled: 40 },
              { run_id: "repull", status: "completed", pulled: 60 },
              { run_id: "repull-after-retention", status: "completed", pulled: 60 }
            ])
            assert.deepStrictEqual(yield* unsettled, {})
          })
        )
      }))

    it.scoped("a restart does not start a second initial run for a source whose run exists", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const settings = settingsWith({ initialRuns: [initialRun(20, 10)] })
        const slice = yield* sampleSlice(20)
        const restart = withArchive(settings, startAndDrain(settings))
        const firstStart = yield* restart
        assert.strictEqual(firstStart.published, slice.approved.length)
        assert.strictEqual((yield* eventsOf("archive.SourceRequested")).length, 2)

        // A new start: a new pool, a new ServerStarted.
        const secondStart = yield* restart
        assert.strictEqual(secondStart.pulled, 0)
        assert.strictEqual(secondStart.published, 0)
        assert.deepStrictEqual(yield* Runtime.statusCounts("archive.TriggerInitialSourceRun"), { delivered: 2 })
        assert.strictEqual((yield* eventsOf("archive.ServerStarted")).length, 2)
        assert.strictEqual((yield* eventsOf("archive.SourceRequested")).length, 2)

        // A start after retention pruned the first run's events (so no dedup key can stop a new first page).
        yield* pruneSettled
        const thirdStart = yield* restart
        assert.strictEqual(thirdStart.pulled, 0)
        assert.deepStrictEqual(yield* Runtime.statusCounts("archive.TriggerInitialSourceRun"), { delivered: 1 })
        assert.strictEqual((yield* eventsOf("archive.SourceRequested")).length, 0)

        assert.deepStrictEqual((yield* sourceRuns).map(({ pulled, run_id, status }) => ({ run_id, status, pulled })), [
          { run_id: initialRunId(settings.initialRuns[0]!), status: "completed", pulled: 20 }
        ])
        assert.strictEqual((yield* depositions).length, 20)
        assert.strictEqual((yield* recordSrns).length, slice.approved.length)
        assert.deepStrictEqual(yield* unsettled, {})
      }))

    it.scoped("manual curation: passed depositions wait; approve publishes and indexes, reject never does", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const settings = settingsWith({ initialRuns: [initialRun(30, 30)], curation: "manual" })
        const slice = yield* sampleSlice(30)
        assert.isAtLeast(slice.approved.length, 2)
        yield* withArchive(
          settings,
          Effect.gen(function*() {
            yield* startAndDrain(settings)
            const waiting = yield* depositions
            assert.strictEqual(countWhere(waiting, "awaiting_curation"), slice.approved.length)
            assert.strictEqual(countWhere(waiting, "rejected"), slice.rejected.length)
            assert.deepStrictEqual(yield* recordSrns, [])
            assert.strictEqual((yield* eventsOf("archive.DepositionApproved")).length, 0)

            const [approved, rejected] = slice.approved
            yield* Curation.approve(approved!.deposition, "alice")
            yield* Curation.reject(rejected!.deposition, "bob")
            yield* drained

            assert.deepStrictEqual(yield* recordSrns, [approved!.srn])
            assert.deepStrictEqual(yield* indexedSrns("keyword_index", "keyword"), [approved!.srn])
            assert.deepStrictEqual(yield* indexedSrns("vector_index", "vector"), [approved!.srn])
            const states = new Map((yield* depositions).map((row) => [row.srn, row]))
            assert.deepInclude(states.get(approved!.deposition), {
              state: "published",
              curated_by: "alice",
              record_srn: approved!.srn
            })
            assert.deepInclude(states.get(rejected!.deposition), {
              state: "rejected",
              curated_by: "bob",
              record_srn: null
            })
            assert.strictEqual(countWhere([...states.values()], "awaiting_curation"), slice.approved.length - 2)

            // Decided once: a second decision is refused, naming the state.
            assert.strictEqual(yield* refusal(rejected!.deposition), "rejected")
            if (slice.rejected.length > 0) assert.strictEqual(yield* refusal(slice.rejected[0]!.deposition), "rejected")
            assert.deepStrictEqual(yield* recordSrns, [approved!.srn])
            assert.deepStrictEqual(yield* unsettled, {})
          })
        )
      }))

    it.scoped("an embedder failing twice: vector retries and completes; keyword finished first, unaffected", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const settings = settingsWith({ initialRuns: [initialRun(25, 25)] })
        const slice = yield* sampleSlice(25)
        const approved = sorted(slice.approved.map((entry) => entry.srn))
        // Calls after the two failures wait for the gate, so the vector backend is provably behind.
        const gate = yield* Deferred.make<void>()
        const embedder = yield* unreliableEmbedder({ failures: 2, gate })
        yield* withArchive(
          settings,
          Effect.gen(function*() {
            yield* start(settings, fast)
            const sql = yield* SqlClient.SqlClient
            const state = Effect.gen(function*() {
              const [row] = yield* sql<{ keyword: number; vector: number; failed: number; delivered: number }>`
                  SELECT (SELECT count(*)::int FROM archive.keyword_index WHERE backend = 'keyword') AS keyword,
                         (SELECT count(*)::int FROM archive.vector_index WHERE backend = 'vector') AS vector,
                         (SELECT count(*)::int FROM sluice.deliveries
                           WHERE consumer_group = ${vectorGroup} AND last_error LIKE 'EmbedderError: %') AS failed,
                         (SELECT count(*)::int FROM sluice.deliveries
                           WHERE consumer_group = ${vectorGroup} AND status = 'delivered') AS delivered`
              return { ...row!, calls: yield* Ref.get(embedder.calls) }
            })
            const keywordDone = yield* Runtime.waitUntil(
              "the keyword index complete and the embedder past its failures",
              state,
              (s) => s.keyword === approved.length && s.calls >= 3
            )
            // The keyword backend is complete while the vector one has nothing yet, and deliveries that
            // failed an attempt (claims keep `last_error`; only the single vector loop could clear it).
            assert.strictEqual(keywordDone.vector, 0)
            assert.strictEqual(keywordDone.delivered, 0)
            assert.isAbove(keywordDone.failed, 0)
            assert.deepStrictEqual(yield* Runtime.statusCounts(keywordGroup), { delivered: approved.length })

            yield* Deferred.succeed(gate, undefined)
            yield* drained
            assert.deepStrictEqual(yield* indexedSrns("vector_index", "vector"), approved)
            assert.deepStrictEqual(yield* indexedSrns("keyword_index", "keyword"), approved)
            const vectorDeliveries = yield* Runtime.deliveries(vectorGroup)
            assert.strictEqual(vectorDeliveries.length, approved.length)
            assert.isTrue(vectorDeliveries.every((row) => row.status === "delivered" && row.last_error === null))
            assert.isTrue(vectorDeliveries.some((row) => row.attempts >= 2))
            assert.deepStrictEqual(yield* unsettled, {})
          }),
          { embedder: embedder.layer }
        )
      }))

    it.scoped("an embedder that always fails: vector deliveries dead-lettered after maxAttempts; keyword complete", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const settings = settingsWith({ initialRuns: [initialRun(15, 15)] })
        const slice = yield* sampleSlice(15)
        const approved = sorted(slice.approved.map((entry) => entry.srn))
        const embedder = yield* unreliableEmbedder({})
        yield* withArchive(
          settings,
          Effect.gen(function*() {
            yield* start(settings, fast)
            yield* drained
            const vectorDeliveries = yield* Runtime.deliveries(vectorGroup)
            assert.strictEqual(vectorDeliveries.length, approved.length)
            for (const row of vectorDeliveries) {
              assert.strictEqual(row.status, "failed")
              assert.strictEqual(row.attempts, fast.indexMaxAttempts)
              assert.match(row.last_error ?? "", /^EmbedderError: embedding service unavailable \(call \d+\)/)
              assert.include(row.last_error, "gave up after 5 of 5 attempts")
            }
            assert.deepStrictEqual(yield* indexedSrns("vector_index", "vector"), [])
            assert.deepStrictEqual(yield* indexedSrns("keyword_index", "keyword"), approved)
            assert.deepStrictEqual(yield* recordSrns, approved)
            assert.deepStrictEqual(yield* unsettled, { [`${vectorGroup}/failed`]: approved.length })
          }),
          { embedder: embedder.layer }
        )
      }))

    it.scoped("a keyword backend named my-index: records indexed and searchable under that name", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const settings = settingsWith({
          initialRuns: [initialRun(20, 20)],
          indexes: [{ name: "my-index", kind: "keyword" }, { name: "vector", kind: "vector" }]
        })
        const slice = yield* sampleSlice(20)
        const approved = sorted(slice.approved.map((entry) => entry.srn))
        yield* withArchive(
          settings,
          Effect.gen(function*() {
            const summary = yield* startAndDrain(settings)
            assert.deepStrictEqual(summary.indexed, [
              { backend: "my-index", count: approved.length },
              { backend: "vector", count: approved.length }
            ])
            assert.deepStrictEqual(yield* indexedSrns("keyword_index", "my-index"), approved)
            assert.deepStrictEqual(yield* indexedSrns("keyword_index", "keyword"), [])
            assert.deepStrictEqual(yield* indexedSrns("vector_index", "vector"), approved)
            assert.deepStrictEqual(yield* Runtime.statusCounts("archive.Index.my-index"), {
              delivered: approved.length
            })

            const search = yield* Search.Search
            const { entry, word } = distinctive(slice.approved)
            const found = yield* search.search({ index: "my-index", q: word, limit: 5, offset: 0 })
            assert.strictEqual(found.index, "my-index")
            assert.strictEqual(found.results[0]?.srn, entry.srn)
            const unknown = yield* Effect.flip(search.search({ index: "keyword", q: word, limit: 5, offset: 0 }))
            assert.strictEqual(unknown._tag, "UnknownIndex")
            assert.deepStrictEqual(yield* unsettled, {})
          })
        )
      }))
  }
)
