/**
 * Sources: where depositions come from. A source is a service that returns one page of
 * upstream records at a time; the pipeline (`PullFromSource`) walks the pages, so a
 * source keeps no cursor of its own. Adding a source is a module that builds a
 * {@link Source} and an entry in the archive's configuration.
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { UpstreamRecord } from "./UpstreamRecord.js"

/** What a page request asks for. */
export interface PageRequest {
  /** Only records published on or after this day (`YYYY-MM-DD`). */
  readonly since: string
  /** Index of the first record of the page in the source's ordered result. */
  readonly offset: number
  /** Records wanted (the page size, already capped by the run's limit). */
  readonly count: number
}

/**
 * One page: the records and how many the whole query matches upstream. A page may hold
 * fewer records than asked for even when more follow (a source drops withdrawn or
 * unsuitable entries): callers advance by the count they asked for, not by the records.
 */
export interface Page {
  readonly records: ReadonlyArray<UpstreamRecord>
  readonly total: number
}

/** A source failed to answer; `retryable` says whether trying again later may help. */
export class SourceError extends Schema.TaggedError<SourceError>()("SourceError", {
  source: Schema.String,
  message: Schema.String,
  retryable: Schema.Boolean
}) {}

/** A source of upstream records, by name (the name is stored with every deposition). */
export interface Source {
  readonly name: string
  readonly fetchPage: (request: PageRequest) => Effect.Effect<Page, SourceError>
}
