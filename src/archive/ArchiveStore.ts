/**
 * The archive's SQL: source runs, depositions, records, and the pipeline's progress
 * counts. (Index tables are the index modules' own.) Runs inside whatever transaction
 * the caller's fiber holds, so a handler's writes commit with its acknowledgement.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ArchiveConfig } from "./ArchiveConfig.js"

export type DepositionState = "submitted" | "rejected" | "awaiting_curation" | "approved" | "published"

export interface DepositionRow {
  readonly srn: string
  readonly source: string
  readonly upstream_id: string
  readonly payload: Record<string, unknown>
  readonly state: DepositionState
  readonly validation: unknown
  readonly curated_by: string | null
  readonly record_srn: string | null
  readonly submitted_at: Date
  readonly updated_at: Date
}

export interface RecordRow {
  readonly srn: string
  readonly record_id: string
  readonly version: number
  readonly deposition_srn: string
  readonly source: string
  readonly upstream_id: string
  readonly title: string
  readonly metadata: Record<string, unknown>
  readonly published_at: Date
}

export interface Progress {
  readonly pulled: number
  readonly runsRunning: number
  readonly runsCompleted: number
  readonly depositions: number
  readonly rejected: number
  readonly awaitingCuration: number
  readonly published: number
  readonly indexed: ReadonlyArray<{ readonly backend: string; readonly count: number }>
}

export interface Service {
  /** Registers a run; false if a run with this id exists already. */
  readonly startRun: (run: {
    readonly runId: string
    readonly source: string
    readonly since: string
    readonly limit: number
    readonly chunkSize: number
    readonly now: Date
  }) => Effect.Effect<boolean, SqlError>
  readonly hasRun: (runId: string) => Effect.Effect<boolean, SqlError>
  /** Raises a run's pulled count (idempotent: a repeated page cannot lower or double it). */
  readonly recordProgress: (runId: string, pulled: number, total: number) => Effect.Effect<void, SqlError>
  readonly completeRun: (runId: string, pulled: number, total: number, now: Date) => Effect.Effect<void, SqlError>
  /** Inserts a deposition; false if one exists for the same source and upstream id. */
  readonly insertDeposition: (deposition: {
    readonly srn: string
    readonly source: string
    readonly upstreamId: string
    readonly payload: unknown
    readonly now: Date
  }) => Effect.Effect<boolean, SqlError>
  readonly setValidation: (
    srn: string,
    results: unknown,
    state: "rejected" | "awaiting_curation",
    now: Date
  ) => Effect.Effect<void, SqlError>
  /** Moves a deposition awaiting curation to `state`; false if it was not awaiting curation. */
  readonly curate: (
    srn: string,
    state: "approved" | "rejected",
    by: string,
    now: Date
  ) => Effect.Effect<boolean, SqlError>
  readonly deposition: (srn: string) => Effect.Effect<DepositionRow | undefined, SqlError>
  /** Inserts a record and marks its deposition published; false if that record exists already. */
  readonly publish: (record: {
    readonly srn: string
    readonly recordId: string
    readonly version: number
    readonly depositionSrn: string
    readonly source: string
    readonly upstreamId: string
    readonly title: string
    readonly metadata: unknown
    readonly now: Date
  }) => Effect.Effect<boolean, SqlError>
  readonly record: (srn: string) => Effect.Effect<RecordRow | undefined, SqlError>
  readonly records: (srns: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<RecordRow>, SqlError>
  readonly progress: Effect.Effect<Progress, SqlError>
}

export class ArchiveStore extends Context.Tag("archive/ArchiveStore")<ArchiveStore, Service>() {}

export const make = Effect.gen(function*() {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const { schema } = yield* ArchiveConfig
  const runs = sql(`${schema}.source_runs`)
  const depositions = sql(`${schema}.depositions`)
  const records = sql(`${schema}.records`)
  const keywordIndex = sql(`${schema}.keyword_index`)
  const vectorIndex = sql(`${schema}.vector_index`)

  const service: Service = {
    startRun: (run) =>
      Effect.map(
        sql`INSERT INTO ${runs} (run_id, source, since, record_limit, chunk_size, status, started_at)
          VALUES (${run.runId}, ${run.source}, ${run.since}, ${run.limit}, ${run.chunkSize}, 'running', ${run.now})
          ON CONFLICT (run_id) DO NOTHING RETURNING 1`,
        (rows) => rows.length === 1
      ),
    hasRun: (runId) => Effect.map(sql`SELECT 1 FROM ${runs} WHERE run_id = ${runId}`, (rows) => rows.length > 0),
    recordProgress: (runId, pulled, total) =>
      Effect.asVoid(sql`UPDATE ${runs} SET pulled = greatest(pulled, ${pulled}), total = ${total}
        WHERE run_id = ${runId}`),
    completeRun: (runId, pulled, total, now) =>
      Effect.asVoid(sql`UPDATE ${runs}
        SET status = 'completed', pulled = greatest(pulled, ${pulled}), total = ${total},
            completed_at = coalesce(completed_at, ${now})
        WHERE run_id = ${runId}`),
    insertDeposition: (deposition) =>
      Effect.map(
        sql`INSERT INTO ${depositions} (srn, source, upstream_id, payload, state, submitted_at, updated_at)
          VALUES (${deposition.srn}, ${deposition.source}, ${deposition.upstreamId},
                  ${JSON.stringify(deposition.payload)}::jsonb, 'submitted', ${deposition.now}, ${deposition.now})
          ON CONFLICT DO NOTHING RETURNING 1`,
        (rows) => rows.length === 1
      ),
    setValidation: (srn, results, state, now) =>
      Effect.asVoid(sql`UPDATE ${depositions}
        SET validation = ${JSON.stringify(results)}::jsonb, state = ${state}, updated_at = ${now}
        WHERE srn = ${srn}`),
    curate: (srn, state, by, now) =>
      Effect.map(
        sql`UPDATE ${depositions} SET state = ${state}, curated_by = ${by}, updated_at = ${now}
          WHERE srn = ${srn} AND state = 'awaiting_curation' RETURNING 1`,
        (rows) => rows.length === 1
      ),
    deposition: (srn) =>
      Effect.map(sql<DepositionRow>`SELECT * FROM ${depositions} WHERE srn = ${srn}`, (rows) => rows[0]),
    publish: (record) =>
      Effect.gen(function*() {
        const inserted = yield* sql`
          INSERT INTO ${records} (srn, record_id, version, deposition_srn, source, upstream_id, title, metadata, published_at)
          VALUES (${record.srn}, ${record.recordId}, ${record.version}, ${record.depositionSrn}, ${record.source},
                  ${record.upstreamId}, ${record.title}, ${JSON.stringify(record.metadata)}::jsonb, ${record.now})
          ON CONFLICT DO NOTHING RETURNING 1`
        if (inserted.length === 0) return false
        yield* sql`UPDATE ${depositions} SET state = 'published', record_srn = ${record.srn}, updated_at = ${record.now}
          WHERE srn = ${record.depositionSrn}`
        return true
      }),
    record: (srn) => Effect.map(sql<RecordRow>`SELECT * FROM ${records} WHERE srn = ${srn}`, (rows) => rows[0]),
    records: (srns) =>
      srns.length === 0 ? Effect.succeed([]) : sql<RecordRow>`SELECT * FROM ${records} WHERE srn IN ${sql.in(srns)}`,
    progress: Effect.gen(function*() {
      const [row] = yield* sql<{
        pulled: number
        running: number
        completed: number
        depositions: number
        rejected: number
        awaiting: number
        published: number
      }>`SELECT
          (SELECT coalesce(sum(pulled), 0)::int FROM ${runs}) AS pulled,
          (SELECT count(*)::int FROM ${runs} WHERE status = 'running') AS running,
          (SELECT count(*)::int FROM ${runs} WHERE status = 'completed') AS completed,
          (SELECT count(*)::int FROM ${depositions}) AS depositions,
          (SELECT count(*)::int FROM ${depositions} WHERE state = 'rejected') AS rejected,
          (SELECT count(*)::int FROM ${depositions} WHERE state = 'awaiting_curation') AS awaiting,
          (SELECT count(*)::int FROM ${records}) AS published`
      const indexed = yield* sql<{ backend: string; count: number }>`
        SELECT backend, count(*)::int AS count FROM ${keywordIndex} GROUP BY backend
        UNION ALL
        SELECT backend, count(*)::int AS count FROM ${vectorIndex} GROUP BY backend
        ORDER BY backend`
      return {
        pulled: row!.pulled,
        runsRunning: row!.running,
        runsCompleted: row!.completed,
        depositions: row!.depositions,
        rejected: row!.rejected,
        awaitingCuration: row!.awaiting,
        published: row!.published,
        indexed
      }
    })
  }
  return service
})

export const layer = Layer.effect(ArchiveStore, make)
