/**
 * The archive pipeline's events, in chain order. Type names are stable: they are what
 * the event log stores.
 *
 * ```
 * ServerStarted → SourceRequested → DepositionSubmitted → ValidationCompleted
 *   → DepositionApproved → RecordPublished → IndexRecord (one per backend, routing key)
 * SourceRequested → … → SourceRunCompleted (when a run reaches its limit or the end)
 * ```
 */
import * as Schema from "effect/Schema"
import { Event } from "../runtime/index.js"
import { UpstreamRecord } from "./source/UpstreamRecord.js"
import { SrnString } from "./Srn.js"

/** Emitted once per process start (dedup key per start). */
export class ServerStarted extends Event.Class<ServerStarted>()("archive.ServerStarted", {
  instance: Schema.String,
  startedAt: Schema.DateFromString
}) {}

/** One page of a source run to pull. */
export class SourceRequested extends Event.Class<SourceRequested>()("archive.SourceRequested", {
  source: Schema.String,
  runId: Schema.String,
  /** Records published on or after this day (`YYYY-MM-DD`). */
  since: Schema.String,
  /** The run stops after this many records. */
  limit: Schema.Int.pipe(Schema.positive()),
  chunkSize: Schema.Int.pipe(Schema.positive()),
  offset: Schema.Int.pipe(Schema.nonNegative())
}) {}

/** A source run finished: it reached its limit or the end of the upstream results. */
export class SourceRunCompleted extends Event.Class<SourceRunCompleted>()("archive.SourceRunCompleted", {
  source: Schema.String,
  runId: Schema.String,
  pulled: Schema.Int,
  total: Schema.Int
}) {}

/** An upstream record submitted as a deposition. */
export class DepositionSubmitted extends Event.Class<DepositionSubmitted>()("archive.DepositionSubmitted", {
  deposition: SrnString,
  source: Schema.String,
  upstreamId: Schema.String,
  record: UpstreamRecord
}) {}

/** The outcome of one validation rule. */
export class RuleResult extends Schema.Class<RuleResult>("archive/RuleResult")({
  rule: Schema.String,
  passed: Schema.Boolean,
  message: Schema.String
}) {}

/** Validation finished, passed or failed, with every rule's result. */
export class ValidationCompleted extends Event.Class<ValidationCompleted>()("archive.ValidationCompleted", {
  deposition: SrnString,
  status: Schema.Literal("passed", "failed"),
  results: Schema.Array(RuleResult)
}) {}

/** Curation approved a deposition (automatically, or by hand). */
export class DepositionApproved extends Event.Class<DepositionApproved>()("archive.DepositionApproved", {
  deposition: SrnString,
  approvedBy: Schema.String
}) {}

/** A record was published (saved in the same transaction). */
export class RecordPublished extends Event.Class<RecordPublished>()("archive.RecordPublished", {
  record: SrnString,
  deposition: SrnString
}) {}

/** Index one record in one backend; the routing key is the backend's configured name. */
export class IndexRecord extends Event.Class<IndexRecord>()("archive.IndexRecord", {
  record: SrnString,
  backend: Schema.String
}) {}
