/**
 * The vector index: records embedded by the {@link Embedder} and stored as `real[]` in
 * `{schema}.vector_index`, one row per (backend, record); search returns the cosine nearest
 * neighbours of the query's embedding.
 *
 * Vectors are L2-normalised here before they are stored (whatever the embedder returns), so
 * cosine similarity is a plain dot product. It is computed in PostgreSQL by the PL/pgSQL
 * functions of migration `0002_vector_search.sql`, over a scan of the backend's rows (exact
 * search; no pgvector here). When the query vector has few non-zero components (the local
 * hashing embedder gives some 20 to 150 of 384) only those are multiplied
 * (`sparse_dot_product`); a dense query (a real model) uses `dot_product`.
 *
 * How to compute it, measured on 5,000 rows of 384 dimensions (2 cores, embedded
 * PostgreSQL 18, top 10 of a full ranking, median of 5 runs, dense query unless said):
 *
 * | method                                                    | time        |
 * |-----------------------------------------------------------|-------------|
 * | SQL function, `sum(x * y) FROM unnest(a, b)`              | 226 ms      |
 * | SQL function, `generate_subscripts` and `a[i] * b[i]`     | 189 ms      |
 * | lateral `unnest(a, b)` aggregate in the query             | 162 ms      |
 * | PL/pgSQL loop, default cost (serial plan)                 | 142 ms      |
 * | PL/pgSQL loop, `COST 10000` (parallel plan, 1 worker)     | 76 ms       |
 * | PL/pgSQL sparse loop, query with 48 non-zero components   | 20 ms       |
 * | Node: fetch all `real[]` rows, dot products, sort         | 190–280 ms  |
 * | Node: fetch `array_send(embedding)` (binary), dot, sort   | 130–170 ms  |
 *
 * Fetching 5,000 × 384 floats into Node costs more than the whole computation in SQL, so
 * scoring stays in the database. End to end (embedding the query, ranking, counting), a
 * search of 5,000 records of the sample data takes 15–22 ms with the local embedder and
 * some 80 ms with a dense query vector. The ranking is one top-level statement (so it can
 * get a parallel plan; inside a sub-query it would not) and the count another (an
 * index-only scan). Beyond some 100,000 rows an approximate index (pgvector's HNSW) is the
 * next step; this service's interface would not change.
 *
 * `total` is the number of the backend's records. A record whose vector has another length
 * (indexed with an earlier model, not re-indexed yet) cannot be compared: it is ranked last
 * and left out of the results.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { Errors } from "../../runtime/index.js"
import { Embedder, EmbedderError, type Vector } from "./Embedder.js"
import { validateSchema } from "./KeywordIndex.js"
import type { Page, PageOptions } from "./Results.js"

/** One record to index: its SRN, title and the text to embed. */
export interface Document {
  readonly srn: string
  readonly title: string
  readonly text: string
}

export type { Hit, Page, PageOptions } from "./Results.js"

/** A vector index operation failed in the database. */
export class VectorIndexError extends Schema.TaggedError<VectorIndexError>()("VectorIndexError", {
  backend: Schema.String,
  operation: Schema.Literal("index", "search"),
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

export interface VectorIndexService {
  /** Embeds the records in one `Embedder.embed` call and upserts their rows in one statement. */
  readonly index: (
    backend: string,
    records: ReadonlyArray<Document>,
    now: Date
  ) => Effect.Effect<void, VectorIndexError | EmbedderError>
  /** The records nearest to the query's embedding, by cosine similarity. */
  readonly search: (
    backend: string,
    query: string,
    options: PageOptions
  ) => Effect.Effect<Page, VectorIndexError | EmbedderError>
}

/** The vector index, as a service. */
export class VectorIndex extends Context.Tag("archive/VectorIndex")<VectorIndex, VectorIndexService>() {}

/** Options of {@link make}. */
export interface Options {
  /** Schema of the archive's tables. Default `archive`. */
  readonly schema?: string | undefined
}

export const defaults = { schema: "archive" } as const

/** The vector scaled to length 1, as plain numbers (all zeros stays all zeros). */
export const normalize = (vector: Vector): Array<number> => {
  let norm = 0
  for (let i = 0; i < vector.length; i++) norm += vector[i]! * vector[i]!
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0
  return Array.from(vector, (value) => value * scale)
}

/** Calls the embedder and checks that it returned one vector of the right length per text. */
const embedChecked = (embedder: Embedder["Type"], texts: ReadonlyArray<string>) =>
  Effect.flatMap(embedder.embed(texts), (vectors) => {
    const wrong = vectors.findIndex((vector) => vector.length !== embedder.dimensions)
    if (vectors.length !== texts.length || wrong >= 0) {
      return Effect.fail(
        new EmbedderError({
          embedder: embedder.name,
          message: vectors.length !== texts.length
            ? `returned ${vectors.length} vectors for ${texts.length} texts`
            : `returned a vector of length ${vectors[wrong]!.length}, expected ${embedder.dimensions}`,
          retryable: false
        })
      )
    }
    return Effect.succeed(vectors.map(normalize))
  })

/** Builds the vector index over the archive's schema, with the {@link Embedder} in context. */
export const make = (
  options: Options = {}
): Effect.Effect<VectorIndexService, Errors.InvalidConfig, SqlClient.SqlClient | Embedder> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const embedder = yield* Embedder
    const schema = yield* validateSchema("VectorIndex", options.schema ?? defaults.schema)
    const table = sql`${sql(schema)}.vector_index`
    const fail = (backend: string, operation: "index" | "search") => (cause: SqlError.SqlError) =>
      new VectorIndexError({
        backend,
        operation,
        message: `vector backend "${backend}": ${operation} failed: ${cause.message}`,
        cause
      })

    const index = Effect.fn("VectorIndex.index")(
      function*(backend: string, records: ReadonlyArray<Document>, now: Date) {
        yield* Effect.annotateCurrentSpan({ backend, records: records.length, embedder: embedder.name })
        if (records.length === 0) return
        const bySrn = new Map<string, Document>()
        for (const record of records) bySrn.set(record.srn, record)
        const unique = [...bySrn.values()]
        const vectors = yield* embedChecked(embedder, unique.map((record) => record.text))
        const rows = unique.map((record, i) => ({
          srn: record.srn,
          title: record.title.replaceAll("\u0000", ""),
          embedding: vectors[i]!
        }))
        yield* sql`INSERT INTO ${table} (backend, record_srn, title, embedding, indexed_at)
          SELECT ${backend}, r.srn, r.title, r.embedding, ${now}
          FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS r (srn text, title text, embedding real[])
          ON CONFLICT (backend, record_srn) DO UPDATE SET
            title = EXCLUDED.title, embedding = EXCLUDED.embedding, indexed_at = EXCLUDED.indexed_at`.pipe(
          Effect.mapError(fail(backend, "index"))
        )
      }
    )

    const search = Effect.fn("VectorIndex.search")(
      function*(backend: string, query: string, options: PageOptions) {
        yield* Effect.annotateCurrentSpan({ backend, query, embedder: embedder.name })
        const [vector] = yield* embedChecked(embedder, [query])
        const positions: Array<number> = []
        const values: Array<number> = []
        vector!.forEach((value, i) => {
          if (value !== 0) {
            positions.push(i + 1)
            values.push(value)
          }
        })
        // Below half the components, skipping zeros beats the plain loop's cheaper steps.
        const score = positions.length * 2 < vector!.length
          ? sql`${sql(schema)}.sparse_dot_product(v.embedding, ${
            vector!.length
          }, ${positions}::integer[], ${values}::real[])`
          : sql`${sql(schema)}.dot_product(v.embedding, ${vector!}::real[])`
        // Two statements: the ranking as a top-level query can get a parallel plan, and the
        // count is an index-only scan of the primary key.
        const [hits, counts] = yield* Effect.all([
          sql<{ srn: string; title: string; score: number | null }>`
            SELECT v.record_srn AS srn, v.title, ${score} AS score
            FROM ${table} v
            WHERE v.backend = ${backend}
            ORDER BY score DESC NULLS LAST, srn
            LIMIT ${options.limit} OFFSET ${options.offset}`,
          sql<{ total: number }>`SELECT count(*)::int AS total FROM ${table} WHERE backend = ${backend}`
        ], { concurrency: 2 }).pipe(Effect.mapError(fail(backend, "search")))
        // A NULL score: a vector of another length, from an earlier model, not re-indexed yet.
        const results = hits.flatMap(({ score, srn, title }) => score === null ? [] : [{ srn, score, title }])
        return { total: counts[0]?.total ?? 0, results } satisfies Page
      }
    )

    return VectorIndex.of({ index, search })
  })

/** The vector index as a layer (needs the {@link Embedder}). */
export const layer = (
  options: Options = {}
): Layer.Layer<VectorIndex, Errors.InvalidConfig, SqlClient.SqlClient | Embedder> =>
  Layer.effect(VectorIndex, make(options))
