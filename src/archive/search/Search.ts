/**
 * Search over the configured index backends: a request names a backend (`index`), which
 * is dispatched by its kind to the {@link KeywordIndex} or the {@link VectorIndex}. Backends
 * are named by configuration, so any name works (`my-index` of kind keyword), and two
 * backends of one kind are independent indexes in the same table.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function*() {
 *   const search = yield* Search
 *   const page = yield* search.search({ index: "keyword", q: "hippocampus", limit: 10, offset: 0 })
 *   // page.total, page.results: [{ srn, score, title }]
 * })
 * const layer = Search.layer([{ name: "keyword", kind: "keyword" }, { name: "vector", kind: "vector" }])
 * ```
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Errors } from "../../runtime/index.js"
import type { EmbedderError } from "../index/Embedder.js"
import { KeywordIndex, type KeywordIndexError } from "../index/KeywordIndex.js"
import { VectorIndex, type VectorIndexError } from "../index/VectorIndex.js"

/** A configured backend: its name (what requests say as `index`) and kind. */
export interface Backend {
  readonly name: string
  readonly kind: "keyword" | "vector"
}

/** A search request. */
export interface Request {
  /** Name of the backend to search. */
  readonly index: string
  /** The query text; must not be blank. */
  readonly q: string
  /** Results per page, from 1 to {@link limits.maxLimit}. */
  readonly limit: number
  /** Results to skip, from 0 to {@link limits.maxOffset}. */
  readonly offset: number
}

/** One result: the record's SRN, its score in that backend (higher is better) and its title. */
export interface Result {
  readonly srn: string
  readonly score: number
  readonly title: string
}

/** A page of results. `total` counts all matches (keyword) or all indexed records (vector). */
export interface Response {
  readonly query: string
  readonly index: string
  readonly total: number
  readonly results: ReadonlyArray<Result>
}

export const limits = { maxLimit: 100, maxOffset: 10_000 } as const

/** No backend has the requested name. */
export class UnknownIndex extends Schema.TaggedError<UnknownIndex>()("UnknownIndex", {
  index: Schema.String,
  known: Schema.Array(Schema.String)
}) {
  override get message() {
    return `unknown index ${JSON.stringify(this.index)}; known indexes: ${
      this.known.map((name) => JSON.stringify(name)).join(", ")
    }`
  }
}

/** The request is not a valid search: blank query, or a limit or offset out of range. */
export class InvalidQuery extends Schema.TaggedError<InvalidQuery>()("InvalidQuery", {
  field: Schema.Literal("q", "limit", "offset"),
  value: Schema.String,
  rule: Schema.String
}) {
  override get message() {
    return `invalid ${this.field} = ${this.value}: ${this.rule}`
  }
}

/** Everything a search can fail with. */
export type SearchError = UnknownIndex | InvalidQuery | KeywordIndexError | VectorIndexError | EmbedderError

export interface SearchService {
  /** The configured backends. */
  readonly backends: ReadonlyArray<Backend>
  /** Searches one backend. */
  readonly search: (request: Request) => Effect.Effect<Response, SearchError>
}

/** Search over the configured backends, as a service. */
export class Search extends Context.Tag("archive/Search")<Search, SearchService>() {}

const checkRequest = (request: Request): InvalidQuery | undefined => {
  if (request.q.trim().length === 0) {
    return new InvalidQuery({ field: "q", value: JSON.stringify(request.q), rule: "must not be empty" })
  }
  if (!Number.isInteger(request.limit) || request.limit < 1 || request.limit > limits.maxLimit) {
    return new InvalidQuery({
      field: "limit",
      value: String(request.limit),
      rule: `must be an integer from 1 to ${limits.maxLimit}`
    })
  }
  if (!Number.isInteger(request.offset) || request.offset < 0 || request.offset > limits.maxOffset) {
    return new InvalidQuery({
      field: "offset",
      value: String(request.offset),
      rule: `must be an integer from 0 to ${limits.maxOffset}`
    })
  }
  return undefined
}

/** Builds search over `backends` (names must be non-empty and distinct). */
export const make = (
  backends: ReadonlyArray<Backend>
): Effect.Effect<SearchService, Errors.InvalidConfig, KeywordIndex | VectorIndex> =>
  Effect.gen(function*() {
    const byName = new Map<string, Backend>()
    for (const backend of backends) {
      if (backend.name.length === 0 || byName.has(backend.name)) {
        return yield* new Errors.InvalidConfig({
          subject: "Search",
          field: "backends",
          value: JSON.stringify(backend.name),
          rule: backend.name.length === 0 ? "backend names must not be empty" : "backend names must be distinct"
        })
      }
      byName.set(backend.name, backend)
    }
    const keyword = yield* KeywordIndex
    const vector = yield* VectorIndex
    const known = [...byName.keys()]

    const search = Effect.fn("Search.search")(function*(request: Request) {
      yield* Effect.annotateCurrentSpan({ index: request.index, q: request.q })
      const invalid = checkRequest(request)
      if (invalid !== undefined) return yield* invalid
      const backend = byName.get(request.index)
      if (backend === undefined) return yield* new UnknownIndex({ index: request.index, known })
      const query = request.q.trim()
      const page = { limit: request.limit, offset: request.offset }
      const { results, total } = backend.kind === "keyword"
        ? yield* keyword.search(backend.name, query, page)
        : yield* vector.search(backend.name, query, page)
      return { query, index: backend.name, total, results } satisfies Response
    })

    return Search.of({ backends: [...byName.values()], search })
  })

/** Search over `backends` as a layer (needs both index services). */
export const layer = (
  backends: ReadonlyArray<Backend>
): Layer.Layer<Search, Errors.InvalidConfig, KeywordIndex | VectorIndex> => Layer.effect(Search, make(backends))
