/**
 * The keyword index: PostgreSQL full-text search over `{schema}.keyword_index`, one row per
 * (backend, record), so several keyword backends share the table without seeing each other.
 *
 * Indexing stores each record's title and body with a `tsvector` built in SQL: the title's
 * lexemes weighted `A`, the body's `B` (`english` configuration: stemming, stop words).
 *
 * Searching:
 * 1. Full text. The query is `websearch_to_tsquery(q)` (quotes for phrases, `or`, `-word`),
 *    OR-ed with the same query whose last word is a prefix (`hippo` → `'hippo':*`), so
 *    search-as-you-type finds `hippocampus`. Matches are ranked by `ts_rank_cd` (cover
 *    density: how many query terms occur and how close together), with the default weights
 *    (A 1.0, B 0.4: a title match counts 2.5 times a body match) and normalisation `1|32`:
 *    divided by 1 + log(document length), so a long body repeating a word does not beat a
 *    title naming it, then scaled into [0, 1) by rank / (rank + 1). Ties go by SRN, so pages
 *    are stable.
 * 2. Typo fallback, only when full text finds nothing: every word of the query (three
 *    letters or more, not a stop word, not excluded with `-`) must be similar to a word of
 *    the title: pg_trgm's `word <% title` (trigram `word_similarity` at least
 *    {@link defaults.fuzzyThreshold}, served by the trigram GIN index on `title`). So
 *    `hipocampus` still finds hippocampus records, and `macrofages tuberculosis` finds
 *    macrophages in tuberculosis. Excluded words still exclude. The score is the words' mean
 *    similarity, in [threshold, 1].
 *
 * `total` is the exact number of matches (a count over the same query), for paging.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Errors } from "../../runtime/index.js"
import type { Hit, Page, PageOptions } from "./Results.js"

/** One record to index: its SRN, title and the body text to search. */
export interface Document {
  readonly srn: string
  readonly title: string
  readonly body: string
}

export type { Hit, Page, PageOptions } from "./Results.js"

/** A keyword index operation failed in the database. */
export class KeywordIndexError extends Schema.TaggedError<KeywordIndexError>()("KeywordIndexError", {
  backend: Schema.String,
  operation: Schema.Literal("index", "search"),
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

export interface KeywordIndexService {
  /** Upserts the records' rows of `backend` in one statement (re-indexing replaces them). */
  readonly index: (
    backend: string,
    records: ReadonlyArray<Document>,
    now: Date
  ) => Effect.Effect<void, KeywordIndexError>
  /** Full-text search with prefix matching on the last word, falling back to trigram similarity on titles. */
  readonly search: (backend: string, query: string, options: PageOptions) => Effect.Effect<Page, KeywordIndexError>
}

/** The keyword index, as a service. */
export class KeywordIndex extends Context.Tag("archive/KeywordIndex")<KeywordIndex, KeywordIndexService>() {}

/** Options of {@link make}. */
export interface Options {
  /** Schema of the archive's tables. Default `archive`. */
  readonly schema?: string | undefined
  /** Least trigram word similarity of each query word in the typo fallback, in (0, 1]. Default 0.5. */
  readonly fuzzyThreshold?: number | undefined
}

export const defaults = { schema: "archive", fuzzyThreshold: 0.5 } as const

const schemaName = /^[a-z_][a-z0-9_]{0,47}$/

/** Validates a schema name option (shared with the vector index). */
export const validateSchema = (subject: string, schema: string): Effect.Effect<string, Errors.InvalidConfig> =>
  schemaName.test(schema) ? Effect.succeed(schema) : Effect.fail(
    new Errors.InvalidConfig({
      subject,
      field: "schema",
      value: JSON.stringify(schema),
      rule: `must match ${schemaName}`
    })
  )

/**
 * Splits a query into everything before its last word and that word, when the last word is
 * plain (at least three letters or digits, not quoted, not excluded) and so can be searched
 * as a prefix.
 */
export const lastWord = (query: string): { readonly head: string; readonly last: string } | undefined => {
  const last = /(?:^|\s)([\p{L}\p{N}]{3,})$/u.exec(query)?.[1]
  return last === undefined ? undefined : { head: query.slice(0, query.length - last.length), last }
}

// The longer words of PostgreSQL's English stop list: matching them says nothing about a title.
const stopWords = new Set(
  ("about above after again against all and any are because been before being below between both but can did " +
    "does doing down during each few for from further had has have having her here hers herself him himself his how " +
    "into its itself just more most nor not now off once only other our ours ourselves out over own same she should " +
    "some such than that the their theirs them themselves then there these they this those through too under until " +
    "very was were what when where which while who whom why will with you your yours yourself yourselves")
    .split(" ")
)

/**
 * The words of a query for the typo fallback: `positive` (three letters or more, no stop
 * words) and `excluded` (written `-word`), without quotes and punctuation.
 */
export const fuzzyWords = (
  query: string
): { readonly positive: ReadonlyArray<string>; readonly excluded: ReadonlyArray<string> } => {
  const positive: Array<string> = []
  const excluded: Array<string> = []
  for (const token of query.toLowerCase().split(/\s+/)) {
    const target = token.startsWith("-") ? excluded : positive
    for (const word of token.split(/[^\p{L}\p{N}]+/u)) {
      if (word.length >= 3 && !stopWords.has(word) && !target.includes(word)) target.push(word)
    }
  }
  return { positive, excluded }
}

// PostgreSQL text cannot hold NUL characters.
const clean = (text: string) => text.replaceAll("\u0000", "")

/** Keeps the last of several documents with one SRN: one statement cannot upsert a row twice. */
const lastPerSrn = <A extends { readonly srn: string }>(records: ReadonlyArray<A>): ReadonlyArray<A> => {
  const bySrn = new Map<string, A>()
  for (const record of records) bySrn.set(record.srn, record)
  return bySrn.size === records.length ? records : [...bySrn.values()]
}

interface PageRow {
  readonly total: number
  readonly results: ReadonlyArray<Hit>
}

/** Builds the keyword index over the archive's schema. */
export const make = (
  options: Options = {}
): Effect.Effect<KeywordIndexService, Errors.InvalidConfig, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const schema = yield* validateSchema("KeywordIndex", options.schema ?? defaults.schema)
    const threshold = options.fuzzyThreshold ?? defaults.fuzzyThreshold
    if (!(threshold > 0 && threshold <= 1)) {
      return yield* new Errors.InvalidConfig({
        subject: "KeywordIndex",
        field: "fuzzyThreshold",
        value: String(threshold),
        rule: "must be a number above 0 and at most 1"
      })
    }
    const table = sql`${sql(schema)}.keyword_index`
    const fail = (backend: string, operation: "index" | "search") => (cause: SqlError.SqlError) =>
      new KeywordIndexError({
        backend,
        operation,
        message: `keyword backend "${backend}": ${operation} failed: ${cause.message}`,
        cause
      })

    const index = Effect.fn("KeywordIndex.index")(
      function*(backend: string, records: ReadonlyArray<Document>, now: Date) {
        yield* Effect.annotateCurrentSpan({ backend, records: records.length })
        if (records.length === 0) return
        const rows = lastPerSrn(records).map(({ body, srn, title }) => ({
          srn,
          title: clean(title),
          body: clean(body)
        }))
        yield* sql`INSERT INTO ${table} (backend, record_srn, title, body, document, indexed_at)
          SELECT ${backend}, r.srn, r.title, r.body,
            setweight(to_tsvector('english', r.title), 'A') || setweight(to_tsvector('english', r.body), 'B'),
            ${now}
          FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS r (srn text, title text, body text)
          ON CONFLICT (backend, record_srn) DO UPDATE SET
            title = EXCLUDED.title, body = EXCLUDED.body, document = EXCLUDED.document,
            indexed_at = EXCLUDED.indexed_at`.pipe(Effect.mapError(fail(backend, "index")))
      }
    )

    /** One page of `matches` (a query of srn, title, score) and their count, in one statement. */
    const pageOf = (matches: Statement.Fragment, options: PageOptions) =>
      Effect.map(
        sql<PageRow>`WITH matches AS MATERIALIZED (${matches})
          SELECT
            (SELECT count(*) FROM matches)::int AS total,
            coalesce(
              (SELECT json_agg(json_build_object('srn', p.srn, 'score', p.score, 'title', p.title)
                ORDER BY p.score DESC, p.srn)
              FROM (SELECT * FROM matches ORDER BY score DESC, srn LIMIT ${options.limit} OFFSET ${options.offset}) p),
              '[]'::json
            ) AS results`,
        (rows): Page => ({ total: rows[0]?.total ?? 0, results: rows[0]?.results ?? [] })
      )

    const fullText = (backend: string, text: string, options: PageOptions) => {
      const split = lastWord(text)
      const exact = sql`websearch_to_tsquery('english', ${text})`
      const tsquery = split === undefined ? exact : sql`(${exact} || (
        websearch_to_tsquery('english', ${split.head}) && to_tsquery('english', ${`${split.last}:*`})))`
      return pageOf(
        sql`SELECT k.record_srn AS srn, k.title, ts_rank_cd(k.document, input.query, 1 | 32) AS score
          FROM ${table} k, (SELECT ${tsquery} AS query) input
          WHERE k.backend = ${backend} AND k.document @@ input.query`,
        options
      )
    }

    const fuzzy = (backend: string, text: string, options: PageOptions) => {
      const { excluded, positive } = fuzzyWords(text)
      if (positive.length === 0) return Effect.succeed<Page>({ total: 0, results: [] })
      const exclude = excluded.length === 0
        ? sql`true`
        : sql`k.document @@ websearch_to_tsquery('english', ${excluded.map((word) => `-${word}`).join(" ")})`
      // The `<%` operator reads its threshold from a setting: set it for this transaction only.
      return sql.withTransaction(
        Effect.zipRight(
          sql`SELECT set_config('pg_trgm.word_similarity_threshold', ${String(threshold)}, true)`,
          pageOf(
            sql`SELECT k.record_srn AS srn, k.title,
                (SELECT avg(public.word_similarity(w, k.title)) FROM unnest(${positive}::text[]) AS w)::real AS score
              FROM ${table} k
              WHERE k.backend = ${backend}
                AND ${sql.and(positive.map((word) => sql`${word} OPERATOR(public.<%) k.title`))}
                AND ${exclude}`,
            options
          )
        )
      )
    }

    const search = Effect.fn("KeywordIndex.search")(
      function*(backend: string, query: string, options: PageOptions) {
        const text = clean(query).trim()
        const found = yield* fullText(backend, text, options)
        const fallback = found.total === 0
        yield* Effect.annotateCurrentSpan({ backend, query: text, fallback })
        return fallback ? yield* fuzzy(backend, text, options) : found
      },
      (effect, backend) => Effect.mapError(effect, fail(backend, "search"))
    )

    return KeywordIndex.of({ index, search })
  })

/** The keyword index as a layer. */
export const layer = (options: Options = {}): Layer.Layer<KeywordIndex, Errors.InvalidConfig, SqlClient.SqlClient> =>
  Layer.effect(KeywordIndex, make(options))
